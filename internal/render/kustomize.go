package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	manifestpkg "github.com/ferrycd/ferry/internal/manifest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/pkg/util"
	"sigs.k8s.io/kustomize/api/resource"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/openapi"
)

// kustomizeSchema guards the one-time parse of kustomize's built-in OpenAPI schema. The schema
// is kustomize's own process-wide state (kyaml/openapi), so parsing it is process-wide too.
var kustomizeSchema sync.Once

// warmKustomize parses kustomize's built-in OpenAPI schema once per process. kustomize keeps it
// until something resets it: krusty resets it only when a kustomization has an "openapi" field,
// which checkKustomization refuses, and nothing in Ferry calls openapi.ResetOpenAPI.
func warmKustomize() {
	kustomizeSchema.Do(func() { _ = openapi.Schema() })
}

// kustomizeOptions are the krusty options for every render: no plugins (kustomize's builtins
// only, no exec or KRM functions, no Helm: Ferry inflates helmCharts itself before kustomize
// runs, see kustomize_helm.go), files confined to their kustomization's directory,
// and the same output order as the kustomize CLI that Argo CD runs (legacy order unless the
// kustomization sets sortOptions).
func kustomizeOptions() *krusty.Options {
	return &krusty.Options{
		Reorder:          krusty.ReorderOptionUnspecified,
		LoadRestrictions: types.LoadRestrictionsRootOnly,
		PluginConfig:     types.DisabledPluginConfig(),
	}
}

// renderKustomize renders the kustomization file kfile in process with krusty, reading the
// repository through kustomizeFS. When opts are set, it builds a generated kustomization in the
// adapter's overlay that has the source directory as its only resource and sets the options.
// With opts.EnableHelm, the kustomizations' helmCharts are rendered first (charts the
// repository does not hold are fetched through fetch) and their output shown to kustomize
// (inflateCharts); the warnings are Helm's.
//
// kustomize cannot be interrupted, so it runs in its own goroutine and renderKustomize returns
// as soon as ctx ends. The goroutine then finishes on its own: its next file access fails with
// ctx's error, or, if it was past reading files, it completes its in-memory transformations and
// its result is dropped.
func renderKustomize(ctx context.Context, fsys fs.FS, kfile string, opts *KustomizeOptions, fetch ChartFetcher,
	b *budget, origins bool,
) ([]*unstructured.Unstructured, []Origin, []string, error) {
	dir := path.Dir(kfile)
	if opts == nil {
		opts = &KustomizeOptions{}
	}
	sites, err := checkKustomization(ctx, fsys, dir, b.limits.MaxBytes, kustomizePolicy{helm: opts.EnableHelm, namespace: opts.Namespace,
		kubeVersion: opts.HelmKubeVersion, apiVersions: opts.HelmAPIVersions})
	if err != nil {
		return nil, nil, nil, err
	}
	kfs := newKustomizeFS(ctx, fsys, b)
	inf := &inflation{}
	if len(sites) > 0 {
		if inf, err = inflateCharts(ctx, fsys, sites, fetch, b); err != nil {
			return nil, nil, nil, err
		}
		kfs.setGenerated(inf.files)
	}
	target := repoPath(dir)
	if opts.isSet() || origins {
		content, err := optionsKustomization(dir, opts, origins)
		if err != nil {
			return nil, nil, nil, &Error{File: kfile, Err: err}
		}
		if err := kfs.WriteFile(optionsDir+"/kustomization.yaml", content); err != nil {
			return nil, nil, nil, &Error{File: kfile, Err: err}
		}
		target = optionsDir
	}

	type result struct {
		objs    []*unstructured.Unstructured
		origins []Origin
		err     error
	}
	done := make(chan result, 1) // buffered: the goroutine never blocks after Render returned
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("kustomize panicked: %v", p)}
			}
		}()
		objs, origins, err := runKustomize(kfs, dir, target, b, origins)
		done <- result{objs, origins, err}
	}()

	select {
	case <-ctx.Done():
		return nil, nil, nil, context.Cause(ctx)
	case res := <-done:
		if err := kfs.err(); err != nil {
			return nil, nil, nil, err // a repository error or a limit, naming its file
		}
		if res.err != nil {
			return nil, nil, nil, fileError(kfile, res.err)
		}
		if origins {
			for i, o := range res.origins {
				if kustomization, ok := inf.origins[o.File]; ok {
					// A chart's object comes from the kustomization declaring the chart, as
					// kustomize says of its generators' objects.
					res.origins[i].File = kustomization
				}
			}
			lineOrigins(fsys, res.objs, res.origins)
		}
		return res.objs, res.origins, inf.warnings, nil
	}
}

// runKustomize runs krusty and converts its output.
func runKustomize(kfs *kustomizeFS, sourceDir, target string, b *budget, withOrigins bool) ([]*unstructured.Unstructured, []Origin, error) {
	resources, err := krusty.MakeKustomizer(kustomizeOptions()).Run(kfs, target)
	if err != nil {
		kerr := &kustomizeError{err: err}
		if target == optionsDir {
			kerr.dir, kerr.sourceRef = sourceDir, sourceReference(sourceDir)
		}
		return nil, nil, kerr
	}
	objs := make([]*unstructured.Unstructured, 0, resources.Size())
	var origins []Origin
	for _, res := range resources.Resources() {
		if withOrigins {
			origins = append(origins, originOf(res))
			if err := res.SetOrigin(nil); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", res.CurId(), err)
			}
		}
		j, err := res.MarshalJSON()
		if err != nil {
			return nil, nil, fmt.Errorf("encode %s: %w", res.CurId(), err)
		}
		if err := b.addObject(len(j)); err != nil {
			return nil, nil, err
		}
		v, err := decodeJSON(j)
		if err != nil {
			return nil, nil, fmt.Errorf("decode %s: %w", res.CurId(), err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil, fmt.Errorf("%w: kustomize produced a %s", ErrInvalidManifest, manifestpkg.JSONKind(v))
		}
		if err := manifestpkg.Validate(m); err != nil {
			return nil, nil, err
		}
		objs = append(objs, &unstructured.Unstructured{Object: m})
	}
	return objs, origins, nil
}

// originOf reads the origin kustomize recorded for a resource: the file it
// was read from or, for a generated one, the kustomization that configured
// it, as a repository path. Line is filled in later by lineOrigins.
func originOf(res *resource.Resource) Origin {
	o, err := res.GetOrigin()
	if err != nil || o == nil {
		return Origin{}
	}
	file := o.Path
	if file == "" && o.ConfiguredIn != "" {
		file = o.ConfiguredIn
	}
	if file == "" || o.Repo != "" {
		return Origin{}
	}
	// Paths are relative to the generated overlay, which sits beside the
	// repository's mount point.
	p := path.Join(optionsDir, file)
	if rel, ok := strings.CutPrefix(p, repoMount+"/"); ok {
		return Origin{File: rel}
	}
	return Origin{}
}

// lineOrigins finds the line of each object's document in its origin file
// (kind and name as read from the file may differ from the rendered ones,
// as after a namePrefix, so the file's documents are matched by kind, then
// by name suffix or prefix). Unreadable files leave the line 0.
func lineOrigins(fsys fs.FS, objs []*unstructured.Unstructured, origins []Origin) {
	files := map[string][]manifest{}
	for i, o := range origins {
		if o.File == "" || slices.Contains(KustomizationNames, path.Base(o.File)) {
			continue
		}
		ms, ok := files[o.File]
		if !ok {
			if data, err := fs.ReadFile(fsys, o.File); err == nil {
				ms, _ = decodeManifests(o.File, data)
			}
			files[o.File] = ms
		}
		origins[i].Line = matchLine(ms, objs[i])
	}
}

func matchLine(ms []manifest, obj *unstructured.Unstructured) int {
	best := 0
	for _, m := range ms {
		if m.obj.GetKind() != obj.GetKind() {
			continue
		}
		name := m.obj.GetName()
		if name == obj.GetName() {
			return m.line
		}
		if best == 0 && name != "" && strings.Contains(obj.GetName(), name) {
			best = m.line
		}
	}
	if best == 0 && len(ms) == 1 {
		return ms[0].line
	}
	return best
}

// kustomizeError is an error from kustomize with the virtual layout removed from its message,
// so paths read as repository paths. Unwrap returns kustomize's error.
type kustomizeError struct {
	err error
	// dir is the source directory, and sourceRef the generated kustomization's reference to it
	// (set when KustomizeOptions are applied).
	dir, sourceRef string
}

var mountRE = regexp.MustCompile(`(^|[^A-Za-z0-9._-])` + regexp.QuoteMeta(repoMount) + `/`)

func (e *kustomizeError) Error() string {
	msg := e.err.Error()
	if e.sourceRef != "" {
		msg = strings.ReplaceAll(msg, "'"+e.sourceRef+"'", "'"+e.dir+"'")
	}
	return "kustomize: " + mountRE.ReplaceAllString(msg, "$1")
}

func (e *kustomizeError) Unwrap() error { return e.err }

// optionsKustomization returns the kustomization that applies opts to the source directory dir,
// placed in the overlay at optionsDir.
//
// Argo CD applies the same options by running `kustomize edit set nameprefix|namesuffix|image|
// namespace` and `kustomize edit add label|annotation` in the source directory. Wrapping the
// source instead of editing it gives the same objects except where the source's kustomization
// sets the same thing itself: a namePrefix or nameSuffix there is kept and the option is added
// outside it (Argo CD replaces it), and an image override matches the image name after the
// source's own images transformation (Argo CD replaces the source's entry for that name).
//
// With origins, it also asks kustomize to record where each resource came
// from (buildMetadata: originAnnotations).
func optionsKustomization(dir string, opts *KustomizeOptions, origins bool) ([]byte, error) {
	k := types.Kustomization{
		TypeMeta: types.TypeMeta{
			APIVersion: types.KustomizationVersion,
			Kind:       types.KustomizationKind,
		},
		Resources:         []string{sourceReference(dir)},
		NamePrefix:        opts.NamePrefix,
		NameSuffix:        opts.NameSuffix,
		Namespace:         opts.Namespace,
		CommonAnnotations: opts.CommonAnnotations,
	}
	if len(opts.CommonLabels) > 0 {
		// labels with includeSelectors is commonLabels without kustomize's deprecation warning.
		k.Labels = []types.Label{{Pairs: opts.CommonLabels, IncludeSelectors: true}}
	}
	images, err := parseImages(opts.Images)
	if err != nil {
		return nil, err
	}
	k.Images = images
	if origins {
		k.BuildMetadata = []string{types.OriginAnnotations}
	}
	return json.Marshal(k) // JSON is YAML; marshalling quotes every value
}

// sourceReference is how the generated kustomization in optionsDir refers to the source dir.
func sourceReference(dir string) string {
	return path.Join("..", strings.TrimPrefix(repoPath(dir), "/"))
}

// errImageFormat lists the image override forms, as `kustomize edit set image` does.
var errImageFormat = errors.New(`use one of <image>=<newimage>:<newtag>, <image>=<newimage>@<digest>, ` +
	`<image>=<newimage>, <image>:<newtag>, <image>@<digest>`)

// parseImages parses image overrides the way `kustomize edit set image` parses its arguments:
// an optional "name=" then an image reference split into name, tag and digest. A later override
// for the same name replaces an earlier one; the result is sorted by name. A "*" (kustomize's
// "keep the existing value") has nothing to keep in a generated kustomization and is dropped.
func parseImages(overrides []string) ([]types.Image, error) {
	byName := map[string]types.Image{}
	for _, o := range overrides {
		key, value, hasKey := strings.Cut(o, "=")
		if !hasKey {
			key, value = "", o
		}
		name, tag, digest := util.SplitImageName(value)
		if (!hasKey && name == o) || name == "" || (hasKey && key == "") {
			return nil, fmt.Errorf("%w: image override %q: %v", ErrInvalidSource, o, errImageFormat)
		}
		img := types.Image{Name: name, NewTag: tag, Digest: digest}
		if hasKey {
			img.Name, img.NewName = key, name
		}
		if img.NewName == "*" {
			img.NewName = ""
		}
		if img.NewTag == "*" {
			img.NewTag = ""
		}
		if img.Digest == "*" {
			img.Digest = ""
		}
		byName[img.Name] = img
	}
	images := make([]types.Image, 0, len(byName))
	for _, img := range byName {
		images = append(images, img)
	}
	sort.Slice(images, func(i, j int) bool { return images[i].Name < images[j].Name })
	return images, nil
}
