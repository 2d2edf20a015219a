package render

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// repoFixture loads testdata/repo into memory once per test: renders read from memory, as they
// do in Ferry.
func repoFixture(t testing.TB) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	root := filepath.Join("testdata", "repo")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: data, Mode: 0o644}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// mapFS builds a repository from path → content pairs.
func mapFS(files map[string]string) fstest.MapFS {
	m := fstest.MapFS{}
	for p, content := range files {
		m[p] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	return m
}

// encodeResult renders a Result as YAML, the format of the golden files.
func encodeResult(t testing.TB, res *Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("# type: " + res.Type + "\n")
	for _, obj := range res.Objects {
		data, err := yaml.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		buf.WriteString("---\n")
		buf.Write(data)
	}
	return buf.Bytes()
}

// checkGolden compares got with testdata/golden/name.yaml, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", "golden", name+".yaml")
	if *update {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("rendered output differs from %s (run with -update to accept):\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// names returns "Kind/name" for each object.
func names(objs []*unstructured.Unstructured) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.GetKind() + "/" + o.GetName()
	}
	return out
}

// errSymlinkEscape stands for whatever error a repository FS returns for a symlink that points
// outside the repository.
var errSymlinkEscape = errors.New("symlink escapes the repository")

// escapingFS returns errSymlinkEscape for one path, for every kind of access.
type escapingFS struct {
	fs.FS
	bad string
}

func (f escapingFS) Open(name string) (fs.File, error) {
	if name == f.bad {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errSymlinkEscape}
	}
	return f.FS.Open(name)
}

// slowFS delays every Open, to exercise timeouts.
type slowFS struct {
	fs.FS
	delay time.Duration
}

func (f slowFS) Open(name string) (fs.File, error) {
	time.Sleep(f.delay)
	return f.FS.Open(name)
}

// wantError checks that err is an *Error naming file (and line, when line > 0), that it wraps
// target (when not nil) and that its message contains each of contains.
func wantError(t *testing.T, err error, file string, line int, target error, contains ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one naming %s", file)
	}
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("error %q (%T) is not an *Error", err, err)
	}
	if re.File != file {
		t.Errorf("Error.File = %q, want %q (error: %v)", re.File, file, err)
	}
	if line > 0 && re.Line != line {
		t.Errorf("Error.Line = %d, want %d (error: %v)", re.Line, line, err)
	}
	if target != nil && !errors.Is(err, target) {
		t.Errorf("error %q does not wrap %v", err, target)
	}
	for _, s := range contains {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestRenderSourcePath(t *testing.T) {
	repo := repoFixture(t)
	r := NewRenderer(Limits{})
	tests := []struct {
		name   string
		path   string
		target error
	}{
		{"parent", "..", ErrOutsideRepository},
		{"parent inside path", "apps/../../etc", ErrOutsideRepository},
		{"parent that stays inside", "apps/../base/myapp", ErrOutsideRepository},
		{"absolute", "/etc", ErrOutsideRepository},
		{"missing", "apps/nope", ErrInvalidSource},
		{"file", "apps/plain/deployment.yaml", ErrInvalidSource},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Render(t.Context(), repo, Source{Path: tt.path})
			if res != nil {
				t.Errorf("got a result with an error")
			}
			if !errors.Is(err, tt.target) {
				t.Fatalf("Render(%q) error = %v, want %v", tt.path, err, tt.target)
			}
		})
	}
	for _, p := range []string{"", ".", "apps/plain/", "./apps/plain"} {
		if _, err := r.Render(t.Context(), mapFS(map[string]string{
			"apps/plain/a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
		}), Source{Path: p}); err != nil {
			t.Errorf("Render(%q): %v", p, err)
		}
	}
}

func TestRenderOptionsMustMatchSourceType(t *testing.T) {
	repo := repoFixture(t)
	r := NewRenderer(Limits{})
	_, err := r.Render(t.Context(), repo, Source{Path: "apps/plain", Kustomize: &KustomizeOptions{NamePrefix: "x-"}})
	wantError(t, err, "apps/plain", 0, ErrInvalidSource, "kustomize options")

	_, err = r.Render(t.Context(), repo, Source{Path: "apps/base/myapp", Directory: &DirectoryOptions{Recurse: true}})
	wantError(t, err, "apps/base/myapp", 0, ErrInvalidSource, "directory options")

	// Empty option structs (as Argo CD's UI leaves them) are no options.
	if _, err := r.Render(t.Context(), repo, Source{Path: "apps/plain", Kustomize: &KustomizeOptions{}}); err != nil {
		t.Error(err)
	}
	if _, err := r.Render(t.Context(), repo, Source{Path: "apps/base/myapp", Directory: &DirectoryOptions{}}); err != nil {
		t.Error(err)
	}
}

func TestRenderLimits(t *testing.T) {
	repo := repoFixture(t)
	tests := []struct {
		name   string
		src    Source
		limits Limits
		file   string
		msg    string
	}{
		{"directory objects", Source{Path: "apps/plain"}, Limits{MaxObjects: 3}, "apps/plain/deployment.yaml", "MaxObjects"},
		{"directory bytes read", Source{Path: "apps/plain"}, Limits{MaxBytes: 300}, "apps/plain/deployment.yaml", "MaxBytes"},
		{"kustomize objects", Source{Path: "apps/staging/myapp"}, Limits{MaxObjects: 2}, "apps/staging/myapp/kustomization.yaml", "MaxObjects"},
		{"kustomize bytes read", Source{Path: "apps/staging/myapp"}, Limits{MaxBytes: 400}, "apps/base/myapp/kustomization.yaml", "MaxBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := NewRenderer(tt.limits).Render(t.Context(), repo, tt.src)
			if res != nil {
				t.Errorf("got a result with an error")
			}
			wantError(t, err, tt.file, 0, ErrLimitExceeded, tt.msg)
		})
	}
}

func TestRenderRenderedBytesLimit(t *testing.T) {
	// A small file that renders to more than MaxBytes (aliases repeat a long value): the output
	// is bounded, not only the input.
	repo := mapFS(map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n" +
		"data: {a: &x " + strings.Repeat("x", 100) + ", b: *x, c: *x, d: *x}\n"})
	_, err := NewRenderer(Limits{MaxBytes: 300}).Render(t.Context(), repo, Source{})
	wantError(t, err, "a.yaml", 0, ErrLimitExceeded, "rendered objects exceed")
}

func TestRenderHonoursContext(t *testing.T) {
	repo := repoFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, p := range []string{"apps/plain", "apps/staging/myapp"} {
		_, err := NewRenderer(Limits{}).Render(ctx, repo, Source{Path: p})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Render(%s) with a cancelled context: error = %v, want context.Canceled", p, err)
		}
	}
}

func TestRenderTimeout(t *testing.T) {
	// Every file access takes longer than the whole render may.
	repo := slowFS{FS: repoFixture(t), delay: 20 * time.Millisecond}
	r := NewRenderer(Limits{Timeout: 30 * time.Millisecond})
	for _, p := range []string{"apps/plain", "apps/staging/myapp"} {
		_, err := r.Render(t.Context(), repo, Source{Path: p})
		if !errors.Is(err, ErrLimitExceeded) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Render(%s): error = %v, want ErrLimitExceeded and context.DeadlineExceeded", p, err)
		}
		if err != nil && !strings.Contains(err.Error(), "Limits.Timeout") {
			t.Errorf("error %q does not name the limit", err)
		}
	}
}
