package sync_test

import (
	"context"
	"slices"
	"strings"
	gosync "sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fsync "github.com/ferrycd/ferry/internal/sync"
)

// TestExecutorResumesAnOperation: an execution stopped after its PreSync
// hooks ran (its context cancelled, as a killed process stops: no hook is
// deleted afterwards) is resumed by a second execution of the same
// operation. The hooks that operation began are adopted, not run again: the
// named hook keeps its UID although BeforeHookCreation would replace it,
// no second generateName object appears, and a hook reported Succeeded
// whose object is gone is not created again. A new operation runs them all
// again.
func TestExecutorResumesAnOperation(t *testing.T) {
	cl, e := newExecutor(t)
	ctx := t.Context()
	const ns = "default"
	plan := func() fsync.Plan {
		generated := annotate(configMap(ns, "", "g"), fsync.HookAnnotation, "PreSync")
		generated.SetGenerateName("migrate-")
		return fsync.MakePlan(fsync.PlanInput{App: "app",
			Desired: []*unstructured.Unstructured{
				configMap(ns, "first", "1"),
				annotate(configMap(ns, "second", "1"), fsync.SyncWaveAnnotation, "1"),
			},
			Hooks: []*unstructured.Unstructured{
				annotate(configMap(ns, "schema", "1"), fsync.HookAnnotation, "PreSync"),
				generated,
			}})
	}
	generatedHooks := func() []string {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion("v1")
		list.SetKind("ConfigMapList")
		if err := cl.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range list.Items {
			if strings.HasPrefix(u.GetName(), "migrate-") {
				names = append(names, u.GetName())
			}
		}
		return names
	}

	// The first execution: stopped once wave 0 is applied.
	var mu gosync.Mutex
	var reported fsync.Results
	killed, kill := context.WithCancel(ctx)
	_, err := e.Execute(killed, "app", plan(), fsync.ExecOptions{Operation: "op-1",
		Report: func(o fsync.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			reported.Record(o)
		},
		Interrupted: func(context.Context) string {
			if exists(ctx, t, cl, ns, "first") != nil {
				kill()
			}
			return ""
		}})
	if err == nil {
		t.Fatal("the stopped execution reported no error")
	}
	if exists(ctx, t, cl, ns, "second") != nil {
		t.Fatal("wave 1 applied: the execution was not stopped mid-sync")
	}
	schema := exists(ctx, t, cl, ns, "schema")
	if schema == nil || schema.GetAnnotations()[fsync.OperationAnnotation] != "op-1" {
		t.Fatalf("hook schema after the first execution: %v, want it annotated with op-1", schema)
	}
	if got := generatedHooks(); len(got) != 1 {
		t.Fatalf("generateName hooks after the first execution: %v, want one", got)
	}

	// Resumed: what the first execution reported is all it has.
	var hooks []fsync.Outcome
	for _, o := range reported.List() {
		if o.Hook {
			hooks = append(hooks, o)
		}
	}
	if len(hooks) != 2 {
		t.Fatalf("the first execution reported hooks %+v, want two", hooks)
	}
	outcomes, err := e.Execute(ctx, "app", plan(), fsync.ExecOptions{Operation: "op-1", Resume: &fsync.Resume{Hooks: hooks}})
	if err != nil {
		t.Fatal(err)
	}
	if again := exists(ctx, t, cl, ns, "schema"); again == nil || again.GetUID() != schema.GetUID() {
		t.Errorf("hook schema after resuming: %v, want the first run kept (uid %s)", again, schema.GetUID())
	}
	if got := generatedHooks(); len(got) != 1 {
		t.Errorf("generateName hooks after resuming: %v, want the first run's only", got)
	}
	if exists(ctx, t, cl, ns, "second") == nil {
		t.Error("wave 1 not applied by the resumed execution")
	}
	adopted := 0
	for _, o := range outcomes {
		if o.Hook && o.State == fsync.Succeeded && o.Action == fsync.Unchanged {
			adopted++
		}
	}
	if adopted != 2 {
		t.Errorf("resumed outcomes %+v: want both hooks adopted and Succeeded", outcomes)
	}

	// A hook the first run saw succeed, whose object is gone since, is not
	// run again by the same operation.
	if err := cl.Delete(ctx, schema); err != nil {
		t.Fatal(err)
	}
	succeeded := slices.Clone(hooks)
	for i := range succeeded {
		succeeded[i].State = fsync.Succeeded
	}
	if _, err := e.Execute(ctx, "app", plan(), fsync.ExecOptions{Operation: "op-1", Resume: &fsync.Resume{Hooks: succeeded}}); err != nil {
		t.Fatal(err)
	}
	if exists(ctx, t, cl, ns, "schema") != nil {
		t.Error("hook schema, reported Succeeded and deleted since, was run again by the same operation")
	}

	// A new operation runs every hook again.
	if _, err := e.Execute(ctx, "app", plan(), fsync.ExecOptions{Operation: "op-2"}); err != nil {
		t.Fatal(err)
	}
	if again := exists(ctx, t, cl, ns, "schema"); again == nil || again.GetAnnotations()[fsync.OperationAnnotation] != "op-2" {
		t.Errorf("hook schema after a new operation: %v, want a run annotated op-2", again)
	}
	if got := generatedHooks(); len(got) != 2 {
		t.Errorf("generateName hooks after a new operation: %v, want a second run", got)
	}
}
