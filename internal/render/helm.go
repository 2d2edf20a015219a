package render

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"testing/fstest"

	chart "helm.sh/helm/v4/pkg/chart/v2"

	"github.com/ferrycd/ferry/internal/helm"
)

// TypeHelm is the source type of a Helm chart.
const TypeHelm = "Helm"

// ChartFile makes a directory a Helm source (Argo CD's detection: a
// Chart.yaml wins over a kustomization).
const ChartFile = "Chart.yaml"

// HelmOptions are Argo CD's spec.source.helm fields, with the defaults the
// caller knows (release name, namespace, the destination's capabilities)
// filled in.
type HelmOptions struct {
	// ReleaseName is .Release.Name; required.
	ReleaseName string
	// Namespace is .Release.Namespace.
	Namespace string
	// ValueFiles are read in order: relative to the chart's directory (for
	// a chart from a Helm repository, inside the chart), or "$ref/path" in
	// Source.Refs[ref]. None may leave its repository.
	ValueFiles []string
	// IgnoreMissingValueFiles skips value files that do not exist.
	IgnoreMissingValueFiles bool
	// Values is a YAML document; ValuesObject, when set, wins over it.
	Values       string
	ValuesObject map[string]any
	// Parameters are --set and --set-string values.
	Parameters []helm.Parameter
	// FileParameters are --set-file values; Path is resolved as a value
	// file is.
	FileParameters []FileParameter
	// KubeVersion and APIVersions are what .Capabilities shows.
	KubeVersion string
	APIVersions []string
	// SkipCRDs, SkipTests and SkipSchemaValidation are helm template's
	// --skip-crds (Ferry includes CRDs otherwise, as Argo CD does),
	// --skip-tests and --skip-schema-validation.
	SkipCRDs, SkipTests, SkipSchemaValidation bool
}

// FileParameter is a --set-file value.
type FileParameter struct {
	Name, Path string
}

// ChartFetcher fetches the archive of a chart a Chart.yaml depends on and
// that its charts/ directory does not hold. version is Chart.lock's version
// or, without a lock, Chart.yaml's constraint.
type ChartFetcher interface {
	FetchChart(ctx context.Context, repoURL, name, version string) ([]byte, error)
}

// renderHelm renders the chart in dir of fsys.
func (r *Renderer) renderHelm(ctx context.Context, fsys fs.FS, dir string, src Source) (*Result, error) {
	if src.Helm == nil || src.Helm.ReleaseName == "" {
		return nil, &Error{File: dir, Err: fmt.Errorf("%w: a Helm source needs a release name", ErrInvalidSource)}
	}
	ch, err := helm.LoadDir(fsys, dir, r.chartLimits())
	if err != nil {
		return nil, &Error{File: dir, Err: helmError(err)}
	}
	if err := r.addDependencies(ctx, fsys, dir, ch, src.Dependencies, 0); err != nil {
		return nil, err
	}
	return r.renderChart(ctx, ch, fsys, dir, src)
}

// RenderChart renders a chart archive from a Helm repository. Value files
// are read inside the chart (src.Path is unused) or from src.Refs.
func (r *Renderer) RenderChart(ctx context.Context, archive []byte, src Source) (*Result, error) {
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()
	if src.Helm == nil || src.Helm.ReleaseName == "" {
		return nil, &Error{Err: fmt.Errorf("%w: a Helm source needs a release name", ErrInvalidSource)}
	}
	ch, err := helm.LoadArchive(archive, r.chartLimits())
	if err != nil {
		return nil, &Error{File: "chart archive", Err: helmError(err)}
	}
	files := fstest.MapFS{}
	for _, f := range ch.Raw {
		files[f.Name] = &fstest.MapFile{Data: f.Data}
	}
	res, err := r.renderChart(ctx, ch, files, ".", src)
	if err != nil && ctx.Err() != nil {
		return nil, &Error{Err: context.Cause(ctx)}
	}
	return res, err
}

func (r *Renderer) renderChart(ctx context.Context, ch *chart.Chart, fsys fs.FS, dir string, src Source) (*Result, error) {
	o := src.Helm
	b := &budget{limits: r.limits}
	opts := helm.Options{
		ReleaseName: o.ReleaseName, Namespace: o.Namespace, Values: o.Values, ValuesObject: o.ValuesObject,
		Parameters: o.Parameters, KubeVersion: o.KubeVersion, APIVersions: o.APIVersions,
		SkipCRDs: o.SkipCRDs, SkipTests: o.SkipTests, SkipSchemaValidation: o.SkipSchemaValidation,
	}
	for _, vf := range o.ValueFiles {
		data, name, err := readValueFile(fsys, dir, vf, src.Refs, b)
		if err != nil {
			if o.IgnoreMissingValueFiles && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		opts.ValueFiles = append(opts.ValueFiles, helm.File{Name: name, Data: data})
	}
	for _, fp := range o.FileParameters {
		data, _, err := readValueFile(fsys, dir, fp.Path, src.Refs, b)
		if err != nil {
			return nil, fmt.Errorf("fileParameters %s: %w", fp.Name, err)
		}
		opts.FileParameters = append(opts.FileParameters, helm.File{Name: fp.Name, Data: data})
	}
	out, err := helm.Render(ctx, ch, opts)
	if err != nil {
		return nil, &Error{File: dir, Err: helmError(err)}
	}
	for _, o := range out.Objects {
		data, err := o.MarshalJSON()
		if err != nil {
			return nil, &Error{File: dir, Err: fmt.Errorf("%w: %w", ErrInvalidManifest, err)}
		}
		if err := b.addObject(len(data)); err != nil {
			return nil, &Error{File: dir, Err: err}
		}
	}
	return &Result{Objects: out.Objects, Type: TypeHelm, Warnings: out.Warnings}, nil
}

// readValueFile reads a value file named as Argo CD's valueFiles name it:
// relative to the chart's directory dir, or "$ref/path" in refs[ref]. The
// path may not leave its repository: ".." that climbs above the root is
// refused, and the repository's fs.FS refuses symlinks pointing out. Remote
// value files (URLs) are refused: the controller fetches nothing a value
// file names. It returns the data and the name to report.
func readValueFile(fsys fs.FS, dir, name string, refs map[string]fs.FS, b *budget) ([]byte, string, error) {
	if strings.Contains(name, "://") {
		return nil, name, &Error{File: name, Err: fmt.Errorf("%w: value file %q is a URL; Ferry reads value files from the repository only", ErrRemoteReference, name)}
	}
	rel := path.Join(dir, name)
	if ref, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(ref, "$") {
		ref = ref[1:]
		var found bool
		if fsys, found = refs[ref]; !found {
			return nil, name, &Error{File: name, Err: fmt.Errorf("%w: value file %q names source ref %q, which no source of the Application has", ErrInvalidSource, name, ref)}
		}
		rel = path.Clean(rest)
	}
	if strings.HasPrefix(name, "/") || rel == ".." || strings.HasPrefix(rel, "../") || !fs.ValidPath(rel) {
		return nil, name, &Error{File: name, Err: fmt.Errorf("%w: value file %q resolves outside the repository", ErrOutsideRepository, name)}
	}
	data, err := b.readFile(fsys, rel)
	if err != nil {
		if absent(err) {
			return nil, name, &Error{File: name, Err: fmt.Errorf("%w: value file %q does not exist: %w", ErrInvalidSource, name, fs.ErrNotExist)}
		}
		return nil, name, fileError(name, err) // a symlink pointing out says so

	}
	return data, name, nil
}

// maxDependencyDepth bounds how deep file:// dependencies may nest.
const maxDependencyDepth = 10

// addDependencies completes ch with the dependencies its Chart.yaml names
// and charts/ does not hold, as `helm dependency build` does: at
// Chart.lock's version when there is a lock, from the repository URL the
// dependency names (https, http, oci through fetch; file:// within the
// repository). A dependency naming a repository by alias ("@stable") is
// refused: Ferry has no repositories.yaml to look the alias up in.
func (r *Renderer) addDependencies(ctx context.Context, fsys fs.FS, dir string, ch *chart.Chart, fetch ChartFetcher, depth int) error {
	if ch.Metadata == nil || len(ch.Metadata.Dependencies) == 0 {
		return nil
	}
	if depth > maxDependencyDepth {
		return &Error{File: dir, Err: fmt.Errorf("%w: file:// dependencies nest deeper than %d", ErrInvalidSource, maxDependencyDepth)}
	}
	have := map[string]bool{}
	for _, d := range ch.Dependencies() {
		have[d.Name()] = true
	}
	chartFile := path.Join(dir, ChartFile)
	for _, dep := range ch.Metadata.Dependencies {
		if have[dep.Name] {
			continue
		}
		version := dep.Version
		if ch.Lock != nil {
			for _, l := range ch.Lock.Dependencies {
				if l.Name == dep.Name && l.Repository == dep.Repository {
					version = l.Version
				}
			}
		}
		var sub *chart.Chart
		var err error
		switch repo := dep.Repository; {
		case strings.HasPrefix(repo, "file://"):
			subdir := path.Join(dir, strings.TrimPrefix(repo, "file://"))
			if strings.HasPrefix(strings.TrimPrefix(repo, "file://"), "/") || subdir == ".." || strings.HasPrefix(subdir, "../") {
				return &Error{File: chartFile, Err: fmt.Errorf("%w: dependency %s at %s resolves outside the repository", ErrOutsideRepository, dep.Name, repo)}
			}
			if sub, err = helm.LoadDir(fsys, subdir, r.chartLimits()); err != nil {
				return &Error{File: subdir, Err: helmError(err)}
			}
			if err := r.addDependencies(ctx, fsys, subdir, sub, fetch, depth+1); err != nil {
				return err
			}
		case strings.HasPrefix(repo, "https://"), strings.HasPrefix(repo, "http://"), strings.HasPrefix(repo, "oci://"):
			if fetch == nil {
				return &Error{File: chartFile, Err: fmt.Errorf("%w: dependency %s is not in charts/ and this render fetches nothing", ErrRemoteReference, dep.Name)}
			}
			data, err := fetch.FetchChart(ctx, repo, dep.Name, version)
			if err != nil {
				return fmt.Errorf("%s: dependency %s %s: %w", chartFile, dep.Name, version, err)
			}
			if sub, err = helm.LoadArchive(data, r.chartLimits()); err != nil {
				return &Error{File: chartFile, Err: fmt.Errorf("dependency %s %s: %w", dep.Name, version, helmError(err))}
			}
		case repo == "":
			return &Error{File: chartFile, Err: fmt.Errorf("%w: dependency %s has no repository and is not in charts/", ErrInvalidSource, dep.Name)}
		default:
			return &Error{File: chartFile, Err: fmt.Errorf("%w: dependency %s names repository %q; Ferry needs its URL (https://, oci:// or file://)", ErrInvalidSource, dep.Name, repo)}
		}
		ch.AddDependency(sub)
	}
	return nil
}

// chartLimits bounds a chart by the render's limits.
func (r *Renderer) chartLimits() helm.Limits {
	return helm.Limits{MaxExpandedBytes: r.limits.MaxBytes}
}

// helmError marks what internal/helm refuses as a render error of the
// source (fixed only in Git or the chart), so it is not retried.
func helmError(err error) error {
	switch {
	case errors.Is(err, helm.ErrLimitExceeded):
		return fmt.Errorf("%w: %w", ErrLimitExceeded, err)
	case errors.Is(err, helm.ErrUnsafeArchive):
		return fmt.Errorf("%w: %w", ErrInvalidSource, err)
	case errors.Is(err, ErrInvalidManifest):
		return err // says so already
	}
	return fmt.Errorf("%w: %w", ErrInvalidManifest, err)
}
