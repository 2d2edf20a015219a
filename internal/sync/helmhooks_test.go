package sync

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestHelmHooks checks how Helm's hook annotations map to Argo CD's, as
// gitops-engine maps them (pkg/sync/hook/helm): the phases a hook runs in,
// its wave, its delete policies, and whether it is a hook at all.
func TestHelmHooks(t *testing.T) {
	const (
		hook   = HelmHookAnnotation
		weight = HelmHookWeightAnnotation
		policy = HelmHookDeletePolicyAnnotation
	)
	type task struct {
		Phase    Phase
		Wave     int64
		Policies []DeletePolicy
	}
	before := []DeletePolicy{BeforeHookCreation}
	tests := []struct {
		name        string
		annotations map[string]string
		isHook      bool
		want        []task // nil: no task (never runs)
	}{
		{"no annotation: a resource of the Sync phase", nil, false,
			[]task{{PhaseSync, 0, nil}}},
		{"pre-install is PreSync", map[string]string{hook: "pre-install"}, true,
			[]task{{PhasePreSync, 0, before}}},
		{"pre-upgrade is PreSync", map[string]string{hook: "pre-upgrade"}, true,
			[]task{{PhasePreSync, 0, before}}},
		{"post-install is PostSync", map[string]string{hook: "post-install"}, true,
			[]task{{PhasePostSync, 0, before}}},
		{"post-upgrade is PostSync", map[string]string{hook: "post-upgrade"}, true,
			[]task{{PhasePostSync, 0, before}}},
		{"pre-install,pre-upgrade runs once", map[string]string{hook: "pre-install, pre-upgrade"}, true,
			[]task{{PhasePreSync, 0, before}}},
		{"post-install,pre-install runs in both phases, in order", map[string]string{hook: "post-install,pre-install"}, true,
			[]task{{PhasePreSync, 0, before}, {PhasePostSync, 0, before}}},
		{"test is a hook that never runs", map[string]string{hook: "test"}, true, nil},
		{"test-success is a hook that never runs", map[string]string{hook: "test-success"}, true, nil},
		{"pre-delete is a hook that never runs", map[string]string{hook: "pre-delete"}, true, nil},
		{"post-delete is a hook that never runs", map[string]string{hook: "post-delete"}, true, nil},
		{"pre-rollback is a hook that never runs", map[string]string{hook: "pre-rollback"}, true, nil},
		{"post-rollback is a hook that never runs", map[string]string{hook: "post-rollback"}, true, nil},
		{"an unknown value is ignored", map[string]string{hook: "pre-install,sometime"}, true,
			[]task{{PhasePreSync, 0, before}}},
		{"crd-install alone is not a hook (Argo CD applies the CRD)", map[string]string{hook: "crd-install"}, false,
			[]task{{PhaseSync, 0, nil}}},
		{"crd-install with pre-install is a PreSync hook", map[string]string{hook: "crd-install,pre-install"}, true,
			[]task{{PhasePreSync, 0, before}}},
		{"hook-weight is the wave", map[string]string{hook: "pre-install", weight: "-5"}, true,
			[]task{{PhasePreSync, -5, before}}},
		{"a hook-weight that is not an integer is 0", map[string]string{hook: "post-install", weight: "heavy"}, true,
			[]task{{PhasePostSync, 0, before}}},
		{"sync-wave wins over hook-weight", map[string]string{hook: "pre-install", weight: "-5", SyncWaveAnnotation: "3"}, true,
			[]task{{PhasePreSync, 3, before}}},
		{"hook-weight orders a resource too, as in Argo CD", map[string]string{weight: "2"}, false,
			[]task{{PhaseSync, 2, nil}}},
		{"delete policies map", map[string]string{hook: "pre-install", policy: "hook-succeeded, hook-failed"}, true,
			[]task{{PhasePreSync, 0, []DeletePolicy{HookSucceeded, HookFailed}}}},
		{"before-hook-creation maps", map[string]string{hook: "pre-install", policy: "before-hook-creation"}, true,
			[]task{{PhasePreSync, 0, before}}},
		{"an unknown Helm policy is ignored", map[string]string{hook: "pre-install", policy: "never,hook-failed"}, true,
			[]task{{PhasePreSync, 0, []DeletePolicy{HookFailed}}}},
		{"Argo CD's and Helm's policies add up, as in Argo CD",
			map[string]string{hook: "pre-install", policy: "hook-failed", HookDeletePolicyAnnotation: "HookSucceeded"}, true,
			[]task{{PhasePreSync, 0, []DeletePolicy{HookSucceeded, HookFailed}}}},
		{"Argo CD's hook wins over Helm's", map[string]string{hook: "pre-install", HookAnnotation: "PostSync"}, true,
			[]task{{PhasePostSync, 0, before}}},
		{"Argo CD's Skip wins over Helm's hook", map[string]string{hook: "pre-install", HookAnnotation: "Skip"}, true, nil},
		{"Argo CD's hook takes Helm's weight and policy",
			map[string]string{HookAnnotation: "Sync", weight: "4", policy: "hook-succeeded"}, true,
			[]task{{PhaseSync, 4, []DeletePolicy{HookSucceeded}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := object(t, "Job ns/migrate", tc.annotations)
			before := obj.DeepCopy()
			if got := IsHook(obj); got != tc.isHook {
				t.Errorf("IsHook = %v, want %v", got, tc.isHook)
			}
			tasks, err := tasksOf(obj)
			if err != nil {
				t.Fatal(err)
			}
			var got []task
			for _, tk := range tasks {
				if tk.Hook != tc.isHook {
					t.Errorf("task %s: Hook = %v, want %v", tk.Phase, tk.Hook, tc.isHook)
				}
				got = append(got, task{tk.Phase, tk.Wave, tk.DeletePolicies})
			}
			if !slices.EqualFunc(got, tc.want, func(a, b task) bool {
				return a.Phase == b.Phase && a.Wave == b.Wave && slices.Equal(a.Policies, b.Policies)
			}) {
				t.Errorf("tasks = %+v, want %+v", got, tc.want)
			}
			if !equalObjects(obj, before) {
				t.Errorf("the object changed: %v, was %v", obj.Object, before.Object)
			}
		})
	}
}

// TestHelmHooksInAPlan runs a chart's objects through MakePlan: the
// pre-install Job runs before the resources, by its weight; the test Pod is
// never applied nor in the inventory; the post-install Job runs last.
func TestHelmHooksInAPlan(t *testing.T) {
	objs := []*unstructured.Unstructured{
		object(t, "Deployment ns/web", nil),
		object(t, "Job ns/migrate", map[string]string{HelmHookAnnotation: "pre-install,pre-upgrade", HelmHookWeightAnnotation: "-1"}),
		object(t, "Job ns/seed", map[string]string{HelmHookAnnotation: "pre-install", HelmHookWeightAnnotation: "1"}),
		object(t, "Pod ns/web-test", map[string]string{HelmHookAnnotation: "test"}),
		object(t, "Job ns/notify", map[string]string{HelmHookAnnotation: "post-install", HelmHookDeletePolicyAnnotation: "hook-succeeded"}),
	}
	var in PlanInput
	in.App = "web"
	for _, o := range objs {
		if IsHook(o) {
			in.Hooks = append(in.Hooks, o)
		} else {
			in.Desired = append(in.Desired, o)
		}
	}
	p := MakePlan(in)
	if p.Refusal != "" {
		t.Fatal(p.Refusal)
	}
	want := []string{
		"PreSync -1: Job migrate",
		"PreSync 1: Job seed",
		"Sync 0: Deployment web",
		"PostSync 0: Job notify",
	}
	if got := describe(p.Steps); !slices.Equal(got, want) {
		t.Errorf("steps:\n%v\nwant:\n%v", got, want)
	}
	if got := keysOf(p.Create); len(got) != 1 || got[0].Name != "web" {
		t.Errorf("created = %v, want only the Deployment (hooks are not in the inventory)", got)
	}
}

func equalObjects(a, b *unstructured.Unstructured) bool {
	ja, _ := a.MarshalJSON()
	jb, _ := b.MarshalJSON()
	return string(ja) == string(jb)
}

// TestSyncWaveReadsHelmWeight checks the wave of live and desired objects
// alike (it orders prunes too).
func TestSyncWaveReadsHelmWeight(t *testing.T) {
	for _, tc := range []struct {
		annotations map[string]string
		want        int64
		err         bool
	}{
		{map[string]string{HelmHookWeightAnnotation: "7"}, 7, false},
		{map[string]string{HelmHookWeightAnnotation: " -3 "}, -3, false},
		{map[string]string{HelmHookWeightAnnotation: "x"}, 0, false},
		{map[string]string{HelmHookWeightAnnotation: "7", SyncWaveAnnotation: "1"}, 1, false},
		{map[string]string{HelmHookWeightAnnotation: "7", SyncWaveAnnotation: "x"}, 0, true},
	} {
		got, err := SyncWave(object(t, "ConfigMap ns/c", tc.annotations))
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("SyncWave(%v) = %d, %v; want %d, error %v", tc.annotations, got, err, tc.want, tc.err)
		}
	}
}
