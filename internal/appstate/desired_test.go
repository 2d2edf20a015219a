package appstate

import (
	"context"
	"errors"
	"io/fs"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/internal/render"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// repo is a revision with a kustomization under app/.
func repo() fstest.MapFS {
	return fstest.MapFS{
		"app/kustomization.yaml": {Data: []byte("resources:\n- settings.yaml\n"), Mode: 0o644},
		"app/settings.yaml": {Data: []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: b\n"),
			Mode: 0o644},
	}
}

// blockingFS is a repository whose file block cannot be opened: Open
// waits until release is closed (the end of the test).
type blockingFS struct {
	fstest.MapFS
	block   string
	release <-chan struct{}
	opens   atomic.Int64
}

func (f *blockingFS) Open(name string) (fs.File, error) {
	f.opens.Add(1)
	if name == f.block {
		<-f.release
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrClosed}
	}
	return f.MapFS.Open(name)
}

// snapshots counts Snapshot calls and answers with fsys, or with the
// errors in fail first.
type snapshots struct {
	fsys  fs.FS
	fail  []error
	calls atomic.Int64
}

func (s *snapshots) Snapshot(_ context.Context, _, _ string) (fs.FS, error) {
	n := s.calls.Add(1)
	if int(n) <= len(s.fail) {
		return nil, s.fail[n-1]
	}
	return s.fsys, nil
}

func namespaced(schema.GroupVersionKind) (bool, error) { return true, nil }

func TestRendererRemembersFailures(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	fsys := &blockingFS{MapFS: repo(), block: "app/settings.yaml", release: release}
	snaps := &snapshots{fsys: fsys}
	r := NewRenderer(render.NewRenderer(render.Limits{Timeout: 100 * time.Millisecond}), snaps, nil, 0)
	app := newApp(nil)

	_, err := r.Desired(t.Context(), app, instance, revB, namespaced, nil)
	var stalled *StalledError
	if !errors.As(err, &stalled) || stalled.Reason != ReasonRenderFailed {
		t.Fatalf("Desired error = %v, want a *StalledError with reason %s", err, ReasonRenderFailed)
	}
	if !errors.Is(err, render.ErrLimitExceeded) {
		t.Errorf("Desired error = %v, want it to wrap render.ErrLimitExceeded", err)
	}
	snapshotsBefore, opensBefore := snaps.calls.Load(), fsys.opens.Load()
	if opensBefore == 0 {
		t.Fatal("the render never opened the blocking file: the test proves nothing")
	}
	goroutines := runtime.NumGoroutine()

	for i := range 20 {
		var err error
		if i%2 == 0 {
			_, err = r.Desired(t.Context(), app, instance, revB, namespaced, nil)
		} else {
			_, err = r.Render(t.Context(), RenderInput{Source: *app.Spec.Source, Revision: revB})
		}
		if reason, ok := IsStalled(err); !ok || reason != ReasonRenderFailed {
			t.Fatalf("call %d: error %v, want the remembered stalled failure", i, err)
		}
	}
	if n := snaps.calls.Load(); n != snapshotsBefore {
		t.Errorf("Snapshot called %d more times; a remembered failure reads nothing", n-snapshotsBefore)
	}
	if n := fsys.opens.Load(); n != opensBefore {
		t.Errorf("%d more Opens; a remembered failure renders nothing", n-opensBefore)
	}
	// Every render that times out leaves a kustomize goroutine blocked;
	// remembered failures start none.
	if n := runtime.NumGoroutine(); n > goroutines+2 {
		t.Errorf("%d goroutines after 20 calls, %d before", n, goroutines)
	}

	// Another revision is another render.
	if _, err := r.Render(t.Context(), RenderInput{Source: *app.Spec.Source, Revision: revA}); err == nil {
		t.Error("revision A rendered; it blocks too")
	}
	if n := snaps.calls.Load(); n != snapshotsBefore+1 {
		t.Errorf("Snapshot calls %d, want %d: revision A is not remembered yet", n, snapshotsBefore+1)
	}

	// A hard refresh renders again; the failure it remembers then is
	// taken by the calls after.
	snapshotsBefore = snaps.calls.Load()
	asked := RenderedAfter(t.Context(), time.Now())
	for range 3 {
		if _, err := r.Render(asked, RenderInput{Source: *app.Spec.Source, Revision: revB}); err == nil {
			t.Error("rendered after a hard refresh; want the same failure")
		}
	}
	if n := snaps.calls.Load(); n != snapshotsBefore+1 {
		t.Errorf("Snapshot calls after a hard refresh: %d more, want 1", n-snapshotsBefore)
	}
}

func TestRendererRetriesSnapshotErrors(t *testing.T) {
	unreachable := errors.New("git fetch: connection refused")
	snaps := &snapshots{fsys: repo(), fail: []error{unreachable}}
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 0)
	app := newApp(nil)

	_, err := r.Desired(t.Context(), app, instance, revB, namespaced, nil)
	if !errors.Is(err, unreachable) {
		t.Fatalf("Desired error = %v, want the snapshot's", err)
	}
	if reason, ok := IsStalled(err); ok {
		t.Errorf("a snapshot error is stalled (%s); it is retryable", reason)
	}
	d, err := r.Desired(t.Context(), app, instance, revB, namespaced, nil)
	if err != nil {
		t.Fatalf("second Desired: %v; a snapshot error must not be remembered", err)
	}
	if snaps.calls.Load() != 2 || len(d.Objects) != 1 {
		t.Errorf("Snapshot calls %d, objects %d; want 2 calls, 1 object", snaps.calls.Load(), len(d.Objects))
	}
}

func TestRendererRetriesCancelledRenders(t *testing.T) {
	snaps := &snapshots{fsys: repo()}
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 0)
	app := newApp(nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := r.Render(ctx, RenderInput{Source: *app.Spec.Source, Revision: revB})
	if err == nil {
		t.Fatal("rendered with a cancelled context")
	}
	if _, ok := IsStalled(err); ok {
		t.Errorf("a cancelled render is stalled: %v", err)
	}
	if _, err := r.Render(t.Context(), RenderInput{Source: *app.Spec.Source, Revision: revB}); err != nil {
		t.Errorf("render after a cancelled one: %v; the cancellation must not be remembered", err)
	}
}

func TestRendererRemembersBrokenRevisions(t *testing.T) {
	broken := repo()
	broken["app/settings.yaml"] = &fstest.MapFile{Data: []byte("apiVersion: v1\nkind: [\n"), Mode: 0o644}
	snaps := &snapshots{fsys: broken}
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 0)
	app := newApp(nil)
	for range 3 {
		_, err := r.Render(t.Context(), RenderInput{Source: *app.Spec.Source, Revision: revB})
		if reason, ok := IsStalled(err); !ok || reason != ReasonRenderFailed {
			t.Fatalf("Render error = %v, want stalled %s", err, ReasonRenderFailed)
		}
	}
	if n := snaps.calls.Load(); n != 1 {
		t.Errorf("Snapshot called %d times, want 1", n)
	}
}

func TestRendererSharesRenders(t *testing.T) {
	snaps := &snapshots{fsys: repo()}
	var rendered []string
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 0)
	r.OnRender = func(sourceType string, _ time.Duration) { rendered = append(rendered, sourceType) }
	app := newApp(nil)

	first, err := r.Render(t.Context(), RenderInput{Source: *app.Spec.Source, Revision: revB})
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Render(t.Context(), RenderInput{Source: *app.Spec.Source, Revision: revB})
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Error("two renders of the same source and revision are different results")
	}
	if snaps.calls.Load() != 1 || len(rendered) != 1 || rendered[0] != render.TypeKustomize {
		t.Errorf("Snapshot calls %d, renders %v; want one Kustomize render", snaps.calls.Load(), rendered)
	}

	d, err := r.Desired(t.Context(), app, instance, revB, namespaced, nil)
	if err != nil {
		t.Fatal(err)
	}
	if snaps.calls.Load() != 1 {
		t.Errorf("Desired read the repository again")
	}
	if d.Revision != revB || d.SourceType != render.TypeKustomize || len(d.Objects) != 1 {
		t.Fatalf("Desired = %+v, want revision B, Kustomize, one object", d)
	}
	obj := d.Objects[0]
	if obj.GetNamespace() != "apps" {
		t.Errorf("namespace %q, want the destination's", obj.GetNamespace())
	}
	if owner, _ := fsync.Owner(obj); owner != instance {
		t.Errorf("tracking owner %q, want %q", owner, instance)
	}
	if obj == first.Objects[0] || first.Objects[0].GetNamespace() != "" {
		t.Error("Desired modified the shared render result")
	}

	// A different source is a different render.
	other := *app.Spec.Source
	other.Kustomize = nil
	other.Path = "app"
	other.TargetRevision = "release"
	if _, err := r.Render(t.Context(), RenderInput{Source: other, Revision: revB}); err != nil {
		t.Fatal(err)
	}
	if snaps.calls.Load() != 2 {
		t.Errorf("Snapshot calls %d, want 2: the source changed", snaps.calls.Load())
	}
}

func TestPrepareSplitsHooks(t *testing.T) {
	job := object("batch/v1", "Job", "", "migrate", "")
	job.SetAnnotations(map[string]string{fsync.HookAnnotation: "PreSync"})
	res := &render.Result{Type: render.TypeDirectory, Objects: []*unstructured.Unstructured{
		configMap("settings", ""), job, object("v1", "Namespace", "", "apps", ""),
	}}
	scope := func(gvk schema.GroupVersionKind) (bool, error) { return gvk.Kind != "Namespace", nil }
	d, err := Prepare(res, newApp(nil), instance, revB, scope)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Objects) != 2 || d.Objects[0].GetName() != "settings" || d.Objects[1].GetName() != "apps" {
		t.Errorf("objects %v, want settings and apps", names(d.Objects))
	}
	if len(d.Hooks) != 1 || d.Hooks[0].GetName() != "migrate" || d.Hooks[0].GetNamespace() != "apps" {
		t.Fatalf("hooks %v, want migrate in apps", names(d.Hooks))
	}
	if owner, _ := fsync.Owner(d.Hooks[0]); owner != instance {
		t.Errorf("hook tracking owner %q, want %q", owner, instance)
	}
	if d.Revision != revB || d.SourceType != render.TypeDirectory {
		t.Errorf("revision %q, source type %q", d.Revision, d.SourceType)
	}
	if job.GetNamespace() != "" {
		t.Error("Prepare modified the render result")
	}

	// An object the cluster cannot place fails, naming the path and revision.
	_, err = Prepare(res, newApp(nil), instance, revB, func(schema.GroupVersionKind) (bool, error) {
		return false, errors.New("no such kind")
	})
	if err == nil || !strings.Contains(err.Error(), "render app at bbbbbbb") {
		t.Errorf("Prepare error = %v, want one naming app at bbbbbbb", err)
	}
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}
