package sync_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fsync "github.com/ferrycd/ferry/internal/sync"
)

// TestExecutorStepsAndHooks runs step plans against an API server without
// controllers, where a Deployment never becomes available: hooks of kinds
// that are healthy at once, their delete policies, a wave that does not
// settle in time (no later wave runs, SyncFail hooks do) and an interrupted
// wait.
func TestExecutorStepsAndHooks(t *testing.T) {
	cl, e := newExecutor(t)
	ctx := t.Context()
	const ns = "default"

	// A PreSync hook deleted once it succeeded, one kept until the next run
	// (BeforeHookCreation), a generateName hook, then a resource.
	plan := func() fsync.Plan {
		generated := annotate(configMap(ns, "", "g"), fsync.HookAnnotation, "PreSync", fsync.HookDeletePolicyAnnotation, "HookFailed")
		generated.SetGenerateName("generated-")
		return fsync.MakePlan(fsync.PlanInput{App: "app",
			Desired: []*unstructured.Unstructured{configMap(ns, "app-config", "1")},
			Hooks: []*unstructured.Unstructured{
				annotate(configMap(ns, "once", "1"), fsync.HookAnnotation, "PreSync", fsync.HookDeletePolicyAnnotation, "HookSucceeded"),
				annotate(configMap(ns, "kept", "1"), fsync.HookAnnotation, "PreSync"),
				generated,
			}})
	}
	outcomes, err := e.Execute(ctx, "app", plan(), fsync.ExecOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, o := range outcomes {
		order = append(order, string(o.Phase)+" "+o.Key.Name+" "+string(o.State))
	}
	if len(order) != 4 || order[0] != "PreSync generated-"+order[0][len("PreSync generated-"):] {
		t.Errorf("outcomes %q: want the three PreSync hooks, then app-config", order)
	}
	if want := "Sync app-config "; order[3] != want {
		t.Errorf("last outcome %q, want %q (the last step is not waited on)", order[3], want)
	}
	if exists(ctx, t, cl, ns, "once") != nil {
		t.Error("HookSucceeded hook still exists after it succeeded")
	}
	kept := exists(ctx, t, cl, ns, "kept")
	if kept == nil {
		t.Fatal("BeforeHookCreation hook deleted after the sync; it should stay until the next run")
	}
	if _, err := e.Execute(ctx, "app", plan(), fsync.ExecOptions{}); err != nil {
		t.Fatal(err)
	}
	if again := exists(ctx, t, cl, ns, "kept"); again == nil || again.GetUID() == kept.GetUID() {
		t.Error("BeforeHookCreation: the second sync did not replace the hook object")
	}

	// Wave 0 never becomes available here: the sync fails after the wave
	// timeout, wave 1 is not applied, and the SyncFail hook runs.
	failing := func() fsync.Plan {
		return fsync.MakePlan(fsync.PlanInput{App: "app",
			Desired: []*unstructured.Unstructured{
				deployment(ns, "never-ready", nil),
				annotate(configMap(ns, "wave-one", "1"), fsync.SyncWaveAnnotation, "1"),
			},
			Hooks: []*unstructured.Unstructured{annotate(configMap(ns, "on-failure", "1"), fsync.HookAnnotation, "SyncFail")},
		})
	}
	outcomes, err = e.Execute(ctx, "app", failing(), fsync.ExecOptions{WaveTimeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "Sync wave 0: not healthy within 2s") || !strings.Contains(err.Error(), "never-ready") {
		t.Errorf("err = %v, want the wave-0 timeout naming the Deployment", err)
	}
	if exists(ctx, t, cl, ns, "wave-one") != nil {
		t.Error("wave 1 applied after wave 0 failed")
	}
	if exists(ctx, t, cl, ns, "on-failure") == nil {
		t.Error("SyncFail hook did not run")
	}
	if !slices.ContainsFunc(outcomes, func(o fsync.Outcome) bool {
		return o.Key.Name == "never-ready" && o.State == fsync.Running && o.Wave == 0
	}) {
		t.Errorf("outcomes %+v: want never-ready still Running in wave 0", outcomes)
	}

	// A wave that turns Degraded fails the sync without waiting for the
	// timeout. With no controllers here, the test plays the Deployment
	// controller and reports the progress deadline exceeded.
	degraded := fsync.MakePlan(fsync.PlanInput{App: "app", Desired: []*unstructured.Unstructured{
		deployment(ns, "degraded", nil), annotate(configMap(ns, "after-degraded", "1"), fsync.SyncWaveAnnotation, "1")}})
	go func() {
		status := client.RawPatch("application/merge-patch+json", []byte(`{"status":{"observedGeneration":1,"conditions":[`+
			`{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded","message":"ReplicaSet has timed out progressing."}]}}`))
		for ctx.Err() == nil {
			if err := cl.Status().Patch(ctx, deployment(ns, "degraded", nil), status); err == nil {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	_, err = e.Execute(ctx, "app", degraded, fsync.ExecOptions{WaveTimeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "Sync wave 0: apps/Deployment default/degraded failed: Progress deadline exceeded") {
		t.Errorf("err = %v, want wave 0 failed for the Degraded Deployment", err)
	}
	if exists(ctx, t, cl, ns, "after-degraded") != nil {
		t.Error("wave 1 applied after wave 0 turned Degraded")
	}

	// An interrupted wait stops at once: no later wave, no SyncFail hook.
	if err := cl.Delete(ctx, exists(ctx, t, cl, ns, "on-failure")); err != nil {
		t.Fatal(err)
	}
	asked := 0
	_, err = e.Execute(ctx, "app", failing(), fsync.ExecOptions{WaveTimeout: time.Minute, Interrupted: func(context.Context) string {
		if asked++; asked > 2 {
			return "revision abc superseded"
		}
		return ""
	}})
	var interrupted *fsync.InterruptedError
	if !errors.As(err, &interrupted) || interrupted.Reason != "revision abc superseded" {
		t.Errorf("err = %v, want an InterruptedError with the reason", err)
	}
	if exists(ctx, t, cl, ns, "wave-one") != nil || exists(ctx, t, cl, ns, "on-failure") != nil {
		t.Error("an interrupted sync went on: wave 1 or the SyncFail hook exists")
	}
}
