package sync_test

import (
	"context"
	"slices"
	gosync "sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// TestExecutorAppliesPrunesAndReports runs plans against a real API server:
// creation, an update, a prune guarded by ownership, and a report per
// outcome as it happens.
func TestExecutorAppliesPrunesAndReports(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	cl, err := client.New(c.UserConfig(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	e := fsync.NewExecutor(cl, cl.RESTMapper(), 4)

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
