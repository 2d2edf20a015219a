package render

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/types"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"sigs.k8s.io/kustomize/kyaml/yaml/merge2"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/helm"
)

// kustomize's helmCharts, with Helm enabled (KustomizeOptions.EnableHelm, Argo CD's
// kustomize.buildOptions --enable-helm), are inflated by Ferry's in-process Helm, never by a helm
// binary, before kustomize runs; kustomize's own Helm support stays disabled.
//
// For every kustomization that declares charts, kustomize is shown, through kustomizeFS, files
// that exist only in memory (the repository is never written):
//
//	<dir>/kustomization.yaml              the kustomization without helmCharts, helmGlobals and
//	                                      helmChartInflationGenerator, and with the component
//	                                      below first in its components
//	<dir>/.ferry-helm/kustomization.yaml  a Component whose resources are the charts' output
//	<dir>/.ferry-helm/<n>-<chart>.yaml    chart n's objects, as `helm template` prints them
//
// A component, because kustomize accumulates a kustomization's resources, then its
// generators' output (configMapGenerator, secretGenerator, then the Helm charts), then its
// components, before its transformers run: the charts' objects take the place of kustomize's
// HelmChartInflationGenerator output, after the resources and the generated ConfigMaps and
// Secrets, and get the kustomization's transformers (and its overlays' patches). Every file
// stays inside its kustomization's directory, so LoadRestrictionsRootOnly still holds.
//
// The objects carry kustomize's internal helm-generated annotation, as kustomize's generator
// marks them, so its namespace transformer leaves them to Helm's namespace, and kustomize drops
// the annotation from its output.

// helmDir is the component directory, inside each kustomization with charts, that holds their
// output. A repository directory of that name is refused where it would be shadowed.
const helmDir = ".ferry-helm"

// chartReleaseName is the release name kustomize's charts get without releaseName: kustomize
// passes --generate-name, which `helm template` ignores for its default name.
const chartReleaseName = "release-name"

// chartSite is a kustomization that declares helmCharts.
type chartSite struct {
	// dir and file are its directory and kustomization file (repository paths).
	dir, file string
	// kustomization is the file as kustomize decodes it.
	kustomization types.Kustomization
	// charts and globals are its charts (helmCharts, then the deprecated
	// helmChartInflationGenerator's) and helmGlobals, as kustomize reads them.
	charts  []types.HelmChart
	globals types.HelmGlobals
	// kubeVersion and apiVersions override the charts' own (kustomizePolicy).
	kubeVersion string
	apiVersions []string
	// namespace is the namespace of its charts that set none: its own, else the one kustomize
	// passes down from the kustomizations including it.
	namespace string
}

// kustomizationCharts returns k's charts and globals as kustomize's FixKustomization leaves
// them, without changing k.
func kustomizationCharts(k *types.Kustomization) ([]types.HelmChart, types.HelmGlobals) {
	legacy, globals := types.SplitHelmParameters(k.HelmChartInflationGenerator)
	if k.HelmGlobals != nil {
		globals = *k.HelmGlobals
	}
	return slices.Concat(k.HelmCharts, legacy), globals
}

// inflation is what inflateCharts produced.
type inflation struct {
	// files are the files kustomize is shown instead of, or beside, the repository's, by
	// repository path.
	files map[string][]byte
	// origins maps each chart output file to the kustomization that declares the chart.
	origins map[string]string
	// warnings are Helm's, prefixed with the kustomization and chart.
	warnings []string
}

// inflateCharts renders the charts of sites and returns the files that feed their output to
// kustomize. It runs before kustomize, bounded by ctx, and counts what it reads and produces
// against b.
func inflateCharts(ctx context.Context, fsys fs.FS, sites []*chartSite, fetch ChartFetcher, b *budget) (*inflation, error) {
	inf := &inflation{files: map[string][]byte{}, origins: map[string]string{}}
	objects := 0
	for _, site := range sites {
		if len(site.charts) == 0 {
			continue // helmGlobals alone: kustomize inflates nothing, enabled or not
		}
		if err := inf.addSite(ctx, fsys, site, fetch, b, &objects); err != nil {
			return nil, err
		}
	}
	return inf, nil
}

// addSite renders the charts of site into its component, and rewrites its kustomization to
// include the component. objects counts the charts' objects so far.
func (inf *inflation) addSite(ctx context.Context, fsys fs.FS, site *chartSite, fetch ChartFetcher, b *budget, objects *int) error {
	comp := path.Join(site.dir, helmDir)
	if _, err := fs.Stat(fsys, comp); !absent(err) {
		return &Error{File: site.file, Err: fmt.Errorf(
			"%w: helmCharts: %s exists; Ferry keeps that name for the charts' output", ErrInvalidSource, comp)}
	}
	var resources []string
	for i, c := range site.charts {
		if err := context.Cause(ctx); err != nil {
			return err
		}
		res, err := inflateChart(ctx, fsys, site, c, fetch, b)
		if err != nil {
			return err
		}
		fail := func(err error) error {
			return &Error{File: site.file, Err: fmt.Errorf("helmCharts %s: %w", c.Name, err)}
		}
		if *objects += len(res.Objects); *objects > b.limits.MaxObjects {
			return fail(fmt.Errorf("%w: the charts render more than %d objects (Limits.MaxObjects)",
				ErrLimitExceeded, b.limits.MaxObjects))
		}
		manifest, err := chartManifest(res)
		if err != nil {
			return fail(err)
		}
		if err := b.addGenerated(len(manifest)); err != nil {
			return fail(err)
		}
		name := fmt.Sprintf("%d-%s.yaml", i, fileNameRE.ReplaceAllString(c.Name, "_"))
		inf.files[path.Join(comp, name)] = manifest
		inf.origins[path.Join(comp, name)] = site.file
		resources = append(resources, name)
		for _, w := range res.Warnings {
			inf.warnings = append(inf.warnings, fmt.Sprintf("%s: helmCharts %s: %s", site.file, c.Name, w))
		}
	}
	component, err := json.Marshal(types.Kustomization{
		TypeMeta:  types.TypeMeta{APIVersion: types.ComponentVersion, Kind: types.ComponentKind},
		Resources: resources,
	})
	if err != nil {
		return &Error{File: site.file, Err: err}
	}
	k := site.kustomization
	k.HelmCharts, k.HelmGlobals, k.HelmChartInflationGenerator = nil, nil, nil
	k.Components = slices.Concat([]string{helmDir}, k.Components)
	rewritten, err := json.Marshal(k) // JSON is YAML; kustomize decodes it to k again
	if err != nil {
		return &Error{File: site.file, Err: err}
	}
	if err := b.addGenerated(len(component) + len(rewritten)); err != nil {
		return &Error{File: site.file, Err: err}
	}
	inf.files[path.Join(comp, "kustomization.yaml")] = component
	inf.files[site.file] = rewritten
	return nil
}

// fileNameRE matches what a chart name may not bring into a file name.
var fileNameRE = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// addGenerated accounts for a file generated for kustomize as one read from the repository.
func (b *budget) addGenerated(size int) error {
	b.read += int64(size)
	if b.read > b.limits.MaxBytes {
		return fmt.Errorf("%w: repository files read and Helm output exceed %d bytes (Limits.MaxBytes)",
			ErrLimitExceeded, b.limits.MaxBytes)
	}
	return nil
}

// chartManifest encodes a chart's objects as a YAML stream (of JSON documents), marked as
// kustomize's Helm generator marks them.
func chartManifest(res *helm.Result) ([]byte, error) {
	var buf bytes.Buffer
	for _, obj := range res.Objects {
		if err := markHelmGenerated(obj.Object); err != nil {
			return nil, err
		}
		data, err := json.Marshal(obj.Object)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidManifest, err)
		}
		buf.WriteString("---\n")
		buf.Write(data)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// markHelmGenerated adds kustomize's helm-generated annotation to obj, leaving its other
// annotations as they are (whatever their values' types).
func markHelmGenerated(obj map[string]any) error {
	meta, ok := obj["metadata"].(map[string]any)
	if !ok {
		return fmt.Errorf("%w: %s has no metadata", ErrInvalidManifest, obj["kind"])
	}
	annotations, ok := meta["annotations"].(map[string]any)
	if !ok {
		if meta["annotations"] != nil {
			return fmt.Errorf("%w: %s %v: metadata.annotations is not a mapping", ErrInvalidManifest, obj["kind"], meta["name"])
		}
		annotations = map[string]any{}
		meta["annotations"] = annotations
	}
	annotations[konfig.HelmGeneratedAnnotation] = "true"
	return nil
}

// inflateChart renders one helmCharts entry as kustomize's HelmChartInflationGenerator does
// with `helm template`.
func inflateChart(ctx context.Context, fsys fs.FS, site *chartSite, c types.HelmChart, fetch ChartFetcher, b *budget) (*helm.Result, error) {
	fail := func(err error) error {
		var re *Error
		if errors.As(err, &re) {
			return err // names the file at fault itself
		}
		return &Error{File: site.file, Err: fmt.Errorf("helmCharts %s: %w", c.Name, err)}
	}
	if c.Name == "" {
		return nil, &Error{File: site.file, Err: fmt.Errorf("%w: helmCharts: chart name cannot be empty", ErrInvalidSource)}
	}
	opts, err := chartOptions(c, site)
	if err != nil {
		return nil, fail(err)
	}
	ch, chartValues, err := loadSiteChart(ctx, fsys, site, c, fetch, b)
	if err != nil {
		return nil, err
	}
	values, err := chartValueFiles(fsys, site, c, chartValues, b)
	if err != nil {
		return nil, fail(err)
	}
	opts.ValueFiles = values
	res, err := helm.Render(ctx, ch, opts)
	if err != nil {
		return nil, fail(helmError(err))
	}
	if c.SkipHooks {
		// `helm template --no-hooks` prints no hook: no object with a helm.sh/hook annotation.
		res.Objects = slices.DeleteFunc(res.Objects, func(obj *unstructured.Unstructured) bool {
			_, hook := obj.GetAnnotations()["helm.sh/hook"]
			return hook
		})
	}
	return res, nil
}

// chartOptions are the helm.Options for chart c, but for its value files: what kustomize passes
// to `helm template` (HelmChart.AsHelmArgs).
func chartOptions(c types.HelmChart, site *chartSite) (helm.Options, error) {
	namespace := site.namespace
	name := c.ReleaseName
	if c.NameTemplate != "" {
		if c.ReleaseName != "" {
			return helm.Options{}, fmt.Errorf("%w: cannot set nameTemplate and also releaseName", ErrInvalidSource)
		}
		if strings.Contains(c.NameTemplate, "{{") {
			return helm.Options{}, fmt.Errorf("%w: nameTemplate %q: only a literal name is supported; "+
				"a template would name the release differently from render to render", ErrNotAllowed, c.NameTemplate)
		}
		name = c.NameTemplate
	}
	if name == "" {
		name = chartReleaseName
	}
	if c.Namespace != "" {
		namespace = c.Namespace
	}
	o := helm.Options{
		ReleaseName: name,
		Namespace:   namespace,
		KubeVersion: c.KubeVersion,
		APIVersions: c.ApiVersions,
		SkipCRDs:    !c.IncludeCRDs,
		SkipTests:   c.SkipTests,
	}
	if site.kubeVersion != "" {
		o.KubeVersion = site.kubeVersion
	}
	if len(site.apiVersions) > 0 {
		o.APIVersions = site.apiVersions
	}
	return o, nil
}

// loadSiteChart finds chart c as kustomize does: in the repository at
// <chartHome>/<name>, or <chartHome>/<name>-<version>/<name> when the chart names a version
// and a repository (where `helm pull --untar` would have put it), and otherwise fetched from
// its repository. It returns the chart and the content of its values.yaml (nil when it has
// none).
func loadSiteChart(ctx context.Context, fsys fs.FS, site *chartSite, c types.HelmChart, fetch ChartFetcher, b *budget) (*chart.Chart, []byte, error) {
	home := site.globals.ChartHome
	if home == "" {
		home = types.HelmDefaultHome
	}
	if path.IsAbs(home) {
		return nil, nil, &Error{File: site.file, Err: fmt.Errorf("%w: helmGlobals.chartHome %q is absolute", ErrOutsideRepository, home)}
	}
	home = path.Join(site.dir, home)
	if c.Version != "" && c.Repo != "" {
		home = path.Join(home, c.Name+"-"+c.Version)
	}
	dir := path.Join(home, c.Name)
	if dir == ".." || strings.HasPrefix(dir, "../") {
		return nil, nil, &Error{File: site.file, Err: fmt.Errorf(
			"%w: helmCharts %s: the chart's directory %s leaves the repository", ErrOutsideRepository, c.Name, dir)}
	}
	lim := helm.Limits{MaxExpandedBytes: b.limits.MaxBytes}
	info, err := fs.Stat(fsys, dir)
	switch {
	case err == nil && info.IsDir():
		ch, err := helm.LoadDir(fsys, dir, lim)
		if err != nil {
			return nil, nil, &Error{File: dir, Err: helmError(err)}
		}
		if err := b.addGenerated(chartSize(ch)); err != nil {
			return nil, nil, &Error{File: dir, Err: err}
		}
		return ch, rawFile(ch, "values.yaml"), nil
	case err != nil && !absent(err):
		return nil, nil, fileError(dir, err) // a symlink pointing out says so
	}
	if c.Repo == "" {
		return nil, nil, &Error{File: site.file, Err: fmt.Errorf(
			"%w: helmCharts %s: no repo specified for pull, no chart found at %s", ErrInvalidSource, c.Name, dir)}
	}
	repo, version := c.Repo, c.Version
	switch {
	case strings.HasPrefix(repo, "oci://"):
		repo = strings.TrimSuffix(repo, "/")
	case strings.HasPrefix(repo, "https://"), strings.HasPrefix(repo, "http://"):
	default:
		return nil, nil, &Error{File: site.file, Err: fmt.Errorf(
			"%w: helmCharts %s: repo %q: Ferry fetches charts from https://, http:// and oci:// repositories only",
			ErrInvalidSource, c.Name, c.Repo)}
	}
	if fetch == nil {
		return nil, nil, &Error{File: site.file, Err: fmt.Errorf(
			"%w: helmCharts %s: no chart at %s, and fetching charts needs a chart repository client, which this render has none of "+
				"(vendor the chart there to render it from the repository)", ErrRemoteReference, c.Name, dir)}
	}
	if c.Devel && version == "" {
		version = ">0.0.0-0" // what `helm pull --devel` takes without --version
	}
	data, err := fetch.FetchChart(ctx, repo, c.Name, version)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: helmCharts %s %s from %s: %w", site.file, c.Name, c.Version, c.Repo, err)
	}
	ch, err := helm.LoadArchive(data, lim)
	if err != nil {
		return nil, nil, &Error{File: site.file, Err: fmt.Errorf("helmCharts %s %s: %w", c.Name, c.Version, helmError(err))}
	}
	return ch, rawFile(ch, "values.yaml"), nil
}

// rawFile returns the content of a chart's file as the chart holds it, or nil.
func rawFile(ch *chart.Chart, name string) []byte {
	for _, f := range ch.Raw {
		if f.Name == name {
			return f.Data
		}
	}
	return nil
}

// chartSize is the size of a chart's files, its subcharts' included.
func chartSize(ch *chart.Chart) int {
	n := 0
	for _, f := range ch.Raw {
		n += len(f.Data)
	}
	for _, d := range ch.Dependencies() {
		n += chartSize(d)
	}
	return n
}

// Values merge modes (HelmChart.ValuesMerge).
const (
	valuesMerge    = "merge"
	valuesOverride = "override"
	valuesReplace  = "replace"
)

// chartValueFiles returns the value files kustomize passes to `helm template` for chart c:
// valuesFile (by default the chart's values.yaml, chartValues), combined with valuesInline
// according to valuesMerge, then additionalValuesFiles. Files are read in the kustomization's
// directory, as kustomize's loader reads them.
func chartValueFiles(fsys fs.FS, site *chartSite, c types.HelmChart, chartValues []byte, b *budget) ([]helm.File, error) {
	mode := c.ValuesMerge
	switch mode {
	case "":
		mode = valuesOverride
	case valuesMerge, valuesOverride, valuesReplace:
	default:
		return nil, fmt.Errorf("%w: valuesMerge must be one of [%s %s %s]", ErrInvalidSource, valuesMerge, valuesOverride, valuesReplace)
	}
	name := "values.yaml"
	read := func() ([]byte, error) {
		if c.ValuesFile == "" {
			if chartValues == nil {
				return nil, fmt.Errorf("%w: the chart has no values.yaml; set valuesFile", ErrInvalidSource)
			}
			return chartValues, nil
		}
		name = c.ValuesFile
		return readKustomizationFile(fsys, site.dir, "valuesFile", c.ValuesFile, b)
	}
	var main []byte
	var err error
	switch {
	case len(c.ValuesInline) == 0:
		main, err = read()
	case mode == valuesReplace:
		name = "valuesInline"
		main, err = yaml.Marshal(c.ValuesInline)
	default:
		var file []byte
		if file, err = read(); err == nil {
			main, err = mergeValues(file, c.ValuesInline, mode)
		}
		name = "valuesInline"
	}
	if err != nil {
		return nil, err
	}
	files := []helm.File{{Name: name, Data: main}}
	for _, f := range c.AdditionalValuesFiles {
		data, err := readKustomizationFile(fsys, site.dir, "additionalValuesFiles", f, b)
		if err != nil {
			return nil, err
		}
		files = append(files, helm.File{Name: f, Data: data})
	}
	return files, nil
}

// mergeValues combines a values file with valuesInline as kustomize does: with override the
// inline values win, with merge the file's do (kyaml's merge2 either way).
func mergeValues(file []byte, inline map[string]any, mode string) ([]byte, error) {
	fileValues, err := kyaml.Parse(string(file))
	if err != nil {
		return nil, fmt.Errorf("%w: could not parse values file: %w", ErrInvalidManifest, err)
	}
	inlineValues, err := kyaml.FromMap(inline)
	if err != nil {
		return nil, fmt.Errorf("%w: could not parse valuesInline: %w", ErrInvalidManifest, err)
	}
	var merged *kyaml.RNode
	if mode == valuesOverride {
		merged, err = merge2.Merge(inlineValues, fileValues.Copy(), kyaml.MergeOptions{})
	} else {
		merged, err = merge2.Merge(fileValues, inlineValues.Copy(), kyaml.MergeOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("%w: could not merge values: %w", ErrInvalidManifest, err)
	}
	m, err := merged.Map()
	if err != nil {
		return nil, fmt.Errorf("%w: could not read merged values: %w", ErrInvalidManifest, err)
	}
	return yaml.Marshal(m)
}

// readKustomizationFile reads a file a kustomization in dir names, confined as kustomize's
// loader confines it (LoadRestrictionsRootOnly): in or below dir. Remote files are refused; the
// repository's fs.FS refuses symlinks pointing out of it.
func readKustomizationFile(fsys fs.FS, dir, field, name string, b *budget) ([]byte, error) {
	if isRemote(name) {
		return nil, fmt.Errorf("%w: %s %q: remote files are never fetched", ErrRemoteReference, field, name)
	}
	file := path.Join(dir, name)
	switch {
	case path.IsAbs(name), file == "..", strings.HasPrefix(file, "../"):
		return nil, fmt.Errorf("%w: %s %q leaves the repository", ErrOutsideRepository, field, name)
	case dir != "." && file != dir && !strings.HasPrefix(file, dir+"/"):
		return nil, fmt.Errorf("%w: %s %q is not in or below the kustomization's directory %s (kustomize's load restrictions)",
			ErrOutsideRepository, field, name, dir)
	}
	data, err := b.readFile(fsys, file)
	switch {
	case err == nil:
		return data, nil
	case absent(err):
		return nil, fmt.Errorf("%w: %s %q does not exist: %w", ErrInvalidSource, field, name, fs.ErrNotExist)
	case errors.Is(err, ErrLimitExceeded):
		return nil, err
	default:
		return nil, &Error{File: file, Err: err} // a symlink pointing out says so
	}
}
