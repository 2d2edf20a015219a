package render

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Source types, as Argo CD reports them in status.sourceType.
const (
	TypeDirectory = "Directory"
	TypeKustomize = "Kustomize"
)

// Default limits, applied by NewRenderer to every zero (or negative) field of Limits.
const (
	DefaultMaxObjects = 10_000
	DefaultMaxBytes   = 64 << 20
	DefaultTimeout    = 30 * time.Second
)

// Source says what to render: a directory inside the repository and how to interpret it. It
// mirrors Argo CD's spec.source (path, directory, kustomize).
type Source struct {
	// Path is the directory inside the repository; "" or "." is the root. It must be relative
	// and must not contain "..".
	Path string
	// Directory holds options for a plain-manifest source (Argo CD spec.source.directory).
	// Setting any of them on a Kustomize source is an error.
	Directory *DirectoryOptions
	// Kustomize holds options for a Kustomize source (Argo CD spec.source.kustomize). Setting
	// any of them on a Directory source is an error.
	Kustomize *KustomizeOptions
	// Helm holds options for a Helm source: a directory with a Chart.yaml (which wins over a
	// kustomization, as in Argo CD), or a chart archive (RenderChart). Required for those;
	// setting it on another source is an error.
	Helm *HelmOptions
	// Refs are the repositories of the Application's other sources, by their ref name, for
	// Helm value files named "$ref/path".
	Refs map[string]fs.FS
	// Dependencies fetches the charts a Chart.yaml depends on that its charts/ directory does
	// not hold, and the charts of kustomize's helmCharts not in the repository; nil refuses
	// them.
	Dependencies ChartFetcher
}

// DirectoryOptions select which files of a Directory source are read, with Argo CD's semantics.
type DirectoryOptions struct {
	// Recurse reads subdirectories too; by default only the files directly in Path are read.
	Recurse bool
	// Include, when set, is a glob that a file's path relative to Source.Path must match.
	// Patterns follow Argo CD (gobwas/glob without separators): '*' and '?' also match '/',
	// "[a-z]" and "[!a-z]" are classes, "{a.yaml,b.yaml}" are alternatives, '\' escapes.
	Include string
	// Exclude, when set, is a glob (same syntax) that removes matching files; it wins over
	// Include.
	Exclude string
}

// KustomizeOptions are the overrides Argo CD applies to a kustomization with `kustomize edit`.
type KustomizeOptions struct {
	// NamePrefix is prepended to the name of every object.
	NamePrefix string
	// NameSuffix is appended to the name of every object.
	NameSuffix string
	// Namespace sets the namespace of every namespaced object.
	Namespace string
	// Images override container images, in `kustomize edit set image` syntax: "nginx=nginx:1.2"
	// (rename and tag), "nginx:1.2" (tag), "nginx@sha256:…" (digest), "nginx=registry/nginx".
	Images []string
	// CommonLabels are added to every object and to its selectors and templates, like
	// kustomize's commonLabels.
	CommonLabels map[string]string
	// CommonAnnotations are added to every object.
	CommonAnnotations map[string]string
	// EnableHelm lets kustomizations inflate helmCharts, through Ferry's
	// in-process Helm (Argo CD's kustomize.buildOptions --enable-helm); off,
	// helmCharts are refused. It is no option of the source itself: isSet
	// ignores it.
	EnableHelm bool
	// HelmKubeVersion and HelmAPIVersions, when set, are what the charts of helmCharts see of
	// the cluster (Argo CD passes the destination's: kustomize's --helm-kube-version and
	// --helm-api-versions), over the charts' own settings. isSet ignores them too.
	HelmKubeVersion string
	HelmAPIVersions []string
}

// Limits bound the work one render may do, so a hostile or broken repository cannot exhaust the
// process. Zero fields take the defaults.
type Limits struct {
	// MaxObjects bounds the number of objects rendered (default 10,000).
	MaxObjects int
	// MaxBytes bounds both the bytes read from the repository and the size of the rendered
	// objects, encoded as JSON (default 64 MiB each).
	MaxBytes int64
	// Timeout bounds the wall time of one render (default 30s).
	Timeout time.Duration
}

// Result is what a render produced.
type Result struct {
	// Objects are the rendered objects in a stable order: for a Directory, file order (lexical
	// by path) then document order; for a Kustomize source, kustomize's output order.
	Objects []*unstructured.Unstructured
	// Type is "Directory" or "Kustomize" (Argo CD's status.sourceType values).
	Type string
	// Origins, parallel to Objects, say where each object was read from;
	// set by RenderWithOrigins only.
	Origins []Origin
	// Warnings are things the render did that its user should know, e.g. a chart calling
	// lookup, which returns nothing when rendering.
	Warnings []string
}

// Origin is where a rendered object was read from: a repository path, and
// the 1-based line of its document there (0 when unknown). An object a
// kustomize generator made has its kustomization file as origin.
type Origin struct {
	File string
	Line int
}

// Renderer renders sources. It holds no per-render state and is safe for concurrent use by many
// goroutines; create one per process (see NewRenderer).
type Renderer struct {
	limits Limits
}

// NewRenderer returns a Renderer that enforces limits (zero fields take the defaults).
//
// The first call in a process also parses kustomize's built-in OpenAPI schema, which kustomize
// keeps in process-wide state: that costs tens of milliseconds once, instead of on the first
// render (Flux pays it on every build). Renders never reset the schema (see renderKustomize).
func NewRenderer(limits Limits) *Renderer {
	if limits.MaxObjects <= 0 {
		limits.MaxObjects = DefaultMaxObjects
	}
	if limits.MaxBytes <= 0 {
		limits.MaxBytes = DefaultMaxBytes
	}
	if limits.Timeout <= 0 {
		limits.Timeout = DefaultTimeout
	}
	warmKustomize()
	return &Renderer{limits: limits}
}

// Render reads src from the repository revision fsys (rooted at the repository root) and returns
// its objects. Nothing is returned unless the whole source renders: any error means no objects.
// Errors are *Error values naming the file at fault; when ctx ends or the Timeout passes, the
// error wraps context.Cause.
func (r *Renderer) Render(ctx context.Context, fsys fs.FS, src Source) (*Result, error) {
	res, err := r.render(ctx, fsys, src, false)
	if res != nil {
		res.Origins = nil // a directory's come for free; the controller keeps none
	}
	return res, err
}

// RenderWithOrigins is Render, and also says where each object came from
// (Result.Origins), for tools that report problems by file and line. For a
// Kustomize source it asks kustomize for origin annotations (buildMetadata:
// originAnnotations) through the generated overlay and removes them from
// the objects, so the objects are the ones Render returns.
func (r *Renderer) RenderWithOrigins(ctx context.Context, fsys fs.FS, src Source) (*Result, error) {
	res, err := r.render(ctx, fsys, src, true)
	if err != nil {
		// The error Render gives, worded as the controller reports it (the
		// overlay origins need would otherwise show in kustomize's words).
		return r.Render(ctx, fsys, src)
	}
	return res, nil
}

func (r *Renderer) render(ctx context.Context, fsys fs.FS, src Source, origins bool) (*Result, error) {
	dir, err := cleanSourcePath(src.Path)
	if err != nil {
		return nil, &Error{File: src.Path, Err: err}
	}
	ctx, cancel := r.withTimeout(ctx)
	defer cancel()

	kustomization, err := sourceKustomization(fsys, dir)
	if err != nil {
		return nil, err
	}
	isChart, err := IsChartDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	if isChart {
		res, err := r.renderHelm(ctx, fsys, dir, src)
		if err != nil && ctx.Err() != nil {
			return nil, &Error{File: dir, Err: context.Cause(ctx)}
		}
		return res, err
	}
	if src.Helm != nil {
		return nil, &Error{File: dir, Err: fmt.Errorf("%w: helm options are set but %s has no %s", ErrInvalidSource, dir, ChartFile)}
	}
	b := &budget{limits: r.limits}
	res := &Result{}
	if kustomization == "" {
		if src.Kustomize.isSet() {
			return nil, &Error{File: dir, Err: fmt.Errorf(
				"%w: kustomize options are set but %s has no kustomization file", ErrInvalidSource, dir)}
		}
		res.Type = TypeDirectory
		res.Objects, res.Origins, err = renderDirectory(ctx, fsys, dir, src.Directory, b)
	} else {
		if src.Directory.isSet() {
			return nil, &Error{File: dir, Err: fmt.Errorf(
				"%w: directory options are set but %s is a Kustomize source", ErrInvalidSource, dir)}
		}
		res.Type = TypeKustomize
		res.Objects, res.Origins, res.Warnings, err = renderKustomize(ctx, fsys, path.Join(dir, kustomization), src.Kustomize, src.Dependencies, b, origins)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, &Error{File: dir, Err: context.Cause(ctx)}
		}
		return nil, err
	}
	return res, nil
}

// withTimeout bounds one render by Limits.Timeout.
func (r *Renderer) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeoutCause(ctx, r.limits.Timeout, fmt.Errorf(
		"%w: render did not finish within %s (Limits.Timeout): %w",
		ErrLimitExceeded, r.limits.Timeout, context.DeadlineExceeded))
}

// IsChartDir reports whether dir of fsys holds a Chart.yaml, which makes it
// a Helm source (Argo CD's detection: it wins over a kustomization). The
// error is one reading it, other than its absence.
func IsChartDir(fsys fs.FS, dir string) (bool, error) {
	info, err := fs.Stat(fsys, path.Join(dir, ChartFile))
	switch {
	case err == nil:
		return !info.IsDir(), nil
	case absent(err):
		return false, nil
	default:
		return false, &Error{File: path.Join(dir, ChartFile), Err: err}
	}
}

func (o *DirectoryOptions) isSet() bool { return o != nil && *o != DirectoryOptions{} }

func (o *KustomizeOptions) isSet() bool {
	return o != nil && (o.NamePrefix != "" || o.NameSuffix != "" || o.Namespace != "" ||
		len(o.Images) > 0 || len(o.CommonLabels) > 0 || len(o.CommonAnnotations) > 0)
}

// cleanSourcePath turns Source.Path into an fs.FS path. It refuses any ".." element, even one
// that would resolve inside the repository, so that a path's meaning never depends on cleaning.
func cleanSourcePath(p string) (string, error) {
	if p == "" {
		return ".", nil
	}
	if strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("%w: source path %q is absolute; it must be relative to the repository root",
			ErrOutsideRepository, p)
	}
	for _, elem := range strings.Split(p, "/") {
		if elem == ".." {
			return "", fmt.Errorf("%w: source path %q contains \"..\"", ErrOutsideRepository, p)
		}
	}
	clean := path.Clean(p)
	if !fs.ValidPath(clean) {
		return "", fmt.Errorf("%w: source path %q is not a valid path", ErrInvalidSource, p)
	}
	return clean, nil
}

// KustomizationNames are the file names that make a directory a Kustomize source, in kustomize's
// order of preference (the same list Argo CD uses to detect the source type).
var KustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

// sourceKustomization checks that dir is a directory and returns the name of its kustomization
// file, or "" for a Directory source.
func sourceKustomization(fsys fs.FS, dir string) (string, error) {
	info, err := fs.Stat(fsys, dir)
	if err != nil {
		if absent(err) {
			return "", &Error{File: dir, Err: fmt.Errorf("%w: source path does not exist", ErrInvalidSource)}
		}
		return "", &Error{File: dir, Err: err}
	}
	if !info.IsDir() {
		return "", &Error{File: dir, Err: fmt.Errorf("%w: source path is not a directory", ErrInvalidSource)}
	}
	return findKustomization(fsys, dir)
}

// findKustomization returns the name of dir's kustomization file, or "" when it has none.
func findKustomization(fsys fs.FS, dir string) (string, error) {
	for _, name := range KustomizationNames {
		file := path.Join(dir, name)
		info, err := fs.Stat(fsys, file)
		if err != nil {
			if absent(err) {
				continue
			}
			return "", &Error{File: file, Err: err}
		}
		if !info.IsDir() {
			return name, nil
		}
	}
	return "", nil
}

// absent reports whether err only says that a file is not there (as opposed to an error reading
// it, such as a symlink that the repository refuses to follow).
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// budget tracks one render's consumption against its Limits. It is used by one goroutine at a
// time.
type budget struct {
	limits   Limits
	read     int64 // bytes read from the repository
	rendered int64 // bytes of rendered objects, as JSON
	objects  int
}

// readFile reads a repository file, failing before it is read whole if it would take the render
// over MaxBytes.
func (b *budget) readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	remaining := b.limits.MaxBytes - b.read
	data, err := io.ReadAll(io.LimitReader(f, remaining+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > remaining {
		return nil, fmt.Errorf("%w: repository files read exceed %d bytes (Limits.MaxBytes)",
			ErrLimitExceeded, b.limits.MaxBytes)
	}
	b.read += int64(len(data))
	return data, nil
}

// addObject accounts for one rendered object of size bytes (as JSON).
func (b *budget) addObject(size int) error {
	b.objects++
	if b.objects > b.limits.MaxObjects {
		return fmt.Errorf("%w: more than %d objects (Limits.MaxObjects)", ErrLimitExceeded, b.limits.MaxObjects)
	}
	b.rendered += int64(size)
	if b.rendered > b.limits.MaxBytes {
		return fmt.Errorf("%w: rendered objects exceed %d bytes (Limits.MaxBytes)", ErrLimitExceeded, b.limits.MaxBytes)
	}
	return nil
}
