package sync_test

import (
	"context"
	"slices"
	gosync "sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fsync "github.com/ferrycd/ferry/internal/sync"
)

// TestExecutorAppliesPrunesAndReports runs plans against a real API server:
// creation, an update, a prune guarded by ownership, and a report per
// outcome as it happens.
func TestExecutorAppliesPrunesAndReports(t *testing.T) {
	cl, e := newExecutor(t)
	ctx := t.Context()

	var mu gosync.Mutex
	var reported []string
	report := func(o fsync.Outcome) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, o.Key.Name+" "+string(o.Action))
	}
	first := fsync.MakePlan(fsync.PlanInput{App: "app", Desired: []*unstructured.Unstructured{
		configMap("default", "a", "1"), configMap("default", "b", "1"), configMap("default", "c", "1")}})
	if _, err := e.Execute(ctx, "app", first, fsync.ExecOptions{Report: report}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(reported)
	if want := []string{"a created", "b created", "c created"}; !slices.Equal(reported, want) {
		t.Errorf("reported %v, want %v", reported, want)
	}

	// b changes, c is no longer desired, and a stranger's object is not ours.
	stranger := configMap("default", "stranger", "x")
	stranger.SetAnnotations(map[string]string{fsync.TrackingAnnotation: fsync.TrackingID("other", fsync.KeyOf(stranger))})
	if err := cl.Create(ctx, stranger); err != nil {
		t.Fatal(err)
	}
	reported = nil
	owned := fsync.LiveInfo{Owner: "app"}
	second := fsync.MakePlan(fsync.PlanInput{App: "app", Prune: true,
		Desired: []*unstructured.Unstructured{configMap("default", "a", "1"), configMap("default", "b", "2")},
		Live: map[fsync.Key]fsync.LiveInfo{
			{Kind: "ConfigMap", Namespace: "default", Name: "a"}:        owned,
			{Kind: "ConfigMap", Namespace: "default", Name: "b"}:        owned,
			{Kind: "ConfigMap", Namespace: "default", Name: "c"}:        owned,
			{Kind: "ConfigMap", Namespace: "default", Name: "stranger"}: {Owner: "other"},
		}})
	if _, err := e.Execute(ctx, "app", second, fsync.ExecOptions{Report: report}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(reported)
	if want := []string{"a unchanged", "b configured", "c pruned"}; !slices.Equal(reported, want) {
		t.Errorf("reported %v, want %v", reported, want)
	}
	got := &unstructured.Unstructured{}
	got.SetAPIVersion("v1")
	got.SetKind("ConfigMap")
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "c"}, got); err == nil {
		t.Error("c not pruned")
	}
	if err := cl.Get(context.Background(), client.ObjectKey{Namespace: "default", Name: "stranger"}, got); err != nil {
		t.Errorf("another application's object was touched: %v", err)
	}
}

// An existing object whose version the comparison saw is applied with one
// request, and the server's response tells unchanged from configured.
func TestExecutorAppliesSeenObjectsDirectly(t *testing.T) {
	cl, e := newExecutor(t)
	ctx := t.Context()
	if _, err := e.Execute(ctx, "app", fsync.MakePlan(fsync.PlanInput{App: "app", Desired: []*unstructured.Unstructured{
		configMap("default", "a", "1"), configMap("default", "b", "1")}}), fsync.ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	live := map[fsync.Key]fsync.LiveInfo{}
	for _, name := range []string{"a", "b"} {
		got := configMap("default", name, "")
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, got); err != nil {
			t.Fatal(err)
		}
		live[fsync.KeyOf(got)] = fsync.LiveInfo{Owner: "app", ResourceVersion: got.GetResourceVersion()}
	}
	a, b := configMap("default", "a", "1"), configMap("default", "b", "2")
	plan := fsync.MakePlan(fsync.PlanInput{App: "app", Desired: []*unstructured.Unstructured{a, b}, Live: live})
	if len(plan.Seen) != 2 {
		t.Fatalf("plan.Seen = %v, want both objects' versions", plan.Seen)
	}
	outcomes, err := e.Execute(ctx, "app", plan, fsync.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, o := range outcomes {
		got[o.Key.Name] = string(o.Action) + ": " + o.Message
	}
	if got["a"] != "unchanged: ConfigMap/default/a unchanged" || got["b"] != "configured: ConfigMap/default/b configured" {
		t.Fatalf("outcomes %v", got)
	}
	// The server's response is in the applied objects: what the sync
	// records as the live state.
	if a.GetResourceVersion() != live[fsync.KeyOf(a)].ResourceVersion || b.GetResourceVersion() == live[fsync.KeyOf(b)].ResourceVersion || b.GetResourceVersion() == "" {
		t.Fatalf("versions after the sync: a %q (seen %q), b %q (seen %q)", a.GetResourceVersion(), live[fsync.KeyOf(a)].ResourceVersion,
			b.GetResourceVersion(), live[fsync.KeyOf(b)].ResourceVersion)
	}
	stored := configMap("default", "b", "")
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "b"}, stored); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := unstructured.NestedString(stored.Object, "data", "v"); v != "2" {
		t.Fatalf("b's data.v is %q, want 2", v)
	}
}
