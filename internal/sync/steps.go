package sync

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Phase is a sync phase, in Argo CD's terms.
type Phase string

// The phases, in the order a sync runs them; SyncFail runs only when a sync
// fails.
const (
	PhasePreSync  Phase = "PreSync"
	PhaseSync     Phase = "Sync"
	PhasePostSync Phase = "PostSync"
	PhaseSyncFail Phase = "SyncFail"
)

// Annotations that order a sync and mark hooks.
const (
	HookAnnotation             = "argocd.argoproj.io/hook"
	HookDeletePolicyAnnotation = "argocd.argoproj.io/hook-delete-policy"
	SyncOptionsAnnotation      = "argocd.argoproj.io/sync-options"
)

// DeletePolicy says when a hook object is deleted.
type DeletePolicy string

const (
	HookSucceeded      DeletePolicy = "HookSucceeded"
	HookFailed         DeletePolicy = "HookFailed"
	BeforeHookCreation DeletePolicy = "BeforeHookCreation"
)

// Task is one object to apply (or prune) in one phase and wave.
type Task struct {
	Key    Key
	Object *unstructured.Unstructured // nil for a prune task
	Phase  Phase
	Wave   int64
	// Hook is set for hooks (IsHook): they run in their phase, are not part
	// of the inventory and are deleted per DeletePolicies.
	Hook           bool
	DeletePolicies []DeletePolicy
	Prune          bool
}

// Step is the tasks of one phase and wave: applied together, then waited on
// until healthy before the next step.
type Step struct {
	Phase Phase
	Wave  int64
	Prune bool
	Tasks []Task
}

// PruneTask is a live object to delete, with the wave it was applied in.
type PruneTask struct {
	Key       Key
	Wave      int64
	PruneLast bool // argocd.argoproj.io/sync-options: PruneLast=true on the object
}

// StepsInput is what ordering a sync depends on.
type StepsInput struct {
	Desired []*unstructured.Unstructured
	Prune   []PruneTask
	// PruneLast is the Application's syncOptions PruneLast=true: every prune
	// runs after PostSync.
	PruneLast bool
}

// Steps orders a sync as Argo CD does: by phase (PreSync, Sync, PostSync),
// then wave (argocd.argoproj.io/sync-wave, default 0, negative allowed),
// then kind (Namespaces, then the kinds others depend on, as Helm and Argo
// CD order them), then namespace and name. Two rules adjust that order:
//
//   - what a hook needs that the Application defines (its Namespace, and in
//     its namespace the ConfigMaps, Secrets and other kinds others depend on
//     at lower waves than a PreSync hook) runs before it; see
//     prerequisitesFirst;
//   - prunes run after the Sync phase, highest wave first; with PruneLast
//     (the Application's or the object's) they run after PostSync.
//
// Objects whose hook is Skip are left out, and so are Helm hooks Argo CD
// does not run (test, pre-delete, ...; see helmhooks.go). SyncFail hooks
// are returned apart: they run only when a sync fails. A malformed
// annotation is an error naming the object.
func Steps(in StepsInput) (steps []Step, syncFail []Task, err error) {
	var tasks []Task
	for _, obj := range in.Desired {
		t, err := tasksOf(obj)
		if err != nil {
			return nil, nil, err
		}
		tasks = append(tasks, t...)
	}
	tasks = prerequisitesFirst(tasks)
	var ordered []Task
	for _, t := range tasks {
		if t.Phase == PhaseSyncFail {
			syncFail = append(syncFail, t)
		} else {
			ordered = append(ordered, t)
		}
	}
	slices.SortStableFunc(ordered, compareTasks)
	slices.SortStableFunc(syncFail, compareTasks)
	steps = group(ordered)

	var early, late []Task
	for _, p := range in.Prune {
		t := Task{Key: p.Key, Wave: p.Wave, Prune: true, Phase: PhaseSync}
		if in.PruneLast || p.PruneLast {
			t.Phase = PhasePostSync
			late = append(late, t)
		} else {
			early = append(early, t)
		}
	}
	steps = insertAfterPhase(steps, PhaseSync, pruneSteps(early))
	steps = insertAfterPhase(steps, PhasePostSync, pruneSteps(late))
	return steps, syncFail, nil
}

// tasksOf reads an object's hook, delete policy and wave annotations,
// Argo CD's or, for a hook without argocd.argoproj.io/hook, Helm's.
func tasksOf(obj *unstructured.Unstructured) ([]Task, error) {
	k := KeyOf(obj)
	if k.Name == "" {
		k.Name = obj.GetGenerateName()
	}
	wave, err := SyncWave(obj)
	if err != nil {
		return nil, err
	}
	hooks, ok := obj.GetAnnotations()[HookAnnotation]
	if !ok && !isHelmHook(obj) {
		return []Task{{Key: k, Object: obj, Phase: PhaseSync, Wave: wave}}, nil
	}
	policies, err := deletePolicies(obj, k)
	if err != nil {
		return nil, err
	}
	var tasks []Task
	if !ok {
		for _, phase := range helmPhases(obj) {
			tasks = append(tasks, Task{Key: k, Object: obj, Phase: phase, Wave: wave, Hook: true, DeletePolicies: policies})
		}
		return tasks, nil
	}
	for _, h := range strings.Split(hooks, ",") {
		switch phase := Phase(strings.TrimSpace(h)); phase {
		case "Skip":
			return nil, nil
		case PhasePreSync, PhaseSync, PhasePostSync, PhaseSyncFail:
			tasks = append(tasks, Task{Key: k, Object: obj, Phase: phase, Wave: wave, Hook: true, DeletePolicies: policies})
		default:
			return nil, fmt.Errorf("annotation %s of %s: unknown hook %q (want PreSync, Sync, PostSync, SyncFail or Skip)", HookAnnotation, k, h)
		}
	}
	return tasks, nil
}

// deletePolicies reads a hook's delete policies as Argo CD does: those of
// argocd.argoproj.io/hook-delete-policy and those of Helm's
// helm.sh/hook-delete-policy together; BeforeHookCreation when neither
// names one.
func deletePolicies(obj *unstructured.Unstructured, k Key) ([]DeletePolicy, error) {
	var out []DeletePolicy
	if v, ok := obj.GetAnnotations()[HookDeletePolicyAnnotation]; ok {
		for _, p := range strings.Split(v, ",") {
			switch dp := DeletePolicy(strings.TrimSpace(p)); dp {
			case HookSucceeded, HookFailed, BeforeHookCreation:
				out = append(out, dp)
			default:
				return nil, fmt.Errorf("annotation %s of %s: unknown policy %q (want HookSucceeded, HookFailed or BeforeHookCreation)", HookDeletePolicyAnnotation, k, p)
			}
		}
	}
	for _, dp := range helmDeletePoliciesOf(obj) {
		if !slices.Contains(out, dp) {
			out = append(out, dp)
		}
	}
	if len(out) == 0 {
		return []DeletePolicy{BeforeHookCreation}, nil
	}
	return out, nil
}

// prerequisitesFirst moves what a hook needs ahead of it, when the
// Application defines it:
//
//   - in the hook's namespace, objects of the kinds others depend on
//     (ConfigMaps, Secrets, ServiceAccounts, PersistentVolumeClaims, RBAC,
//     Services: everything kindOrder lists before the workloads) whose wave
//     is lower than a PreSync hook's move into PreSync, keeping their wave;
//   - the Namespace the hook (or a moved object) lives in goes into its
//     phase, in a wave of its own before the earliest of them (the objects
//     of one step are applied together, and the namespace must exist
//     first).
//
// This is where Ferry departs from Argo CD, which runs a PreSync hook before
// every Sync-phase object, so that a migration Job in wave 1 of a namespace
// the Application creates in wave -1 fails for a missing namespace. The waves
// the manifests carry say what their authors meant (the comments of the
// example manifests in internal/examples read
// "Namespace created first (wave -1)", "ConfigMap created second (wave 0)",
// "migration job runs third (wave 1)"), and the objects moved are the ones a
// hook can only need, never workloads. Moved objects stay in the
// Application's inventory; only the phase they are applied in changes.
func prerequisitesFirst(tasks []Task) []Task {
	preSyncWave := map[string]int64{} // namespace → its latest PreSync hook's wave
	for _, t := range tasks {
		if t.Hook && t.Phase == PhasePreSync && t.Key.Namespace != "" {
			if w, ok := preSyncWave[t.Key.Namespace]; !ok || t.Wave > w {
				preSyncWave[t.Key.Namespace] = t.Wave
			}
		}
	}
	moved := make([]bool, len(tasks))
	for i, t := range tasks {
		if w, ok := preSyncWave[t.Key.Namespace]; ok && !t.Hook && t.Phase == PhaseSync && t.Wave < w && isPrerequisiteKind(t.Key) {
			tasks[i].Phase, moved[i] = PhasePreSync, true
		}
	}
	earliest := map[string]Task{} // namespace → the earliest task that needs it
	for i, t := range tasks {
		if !(t.Hook || moved[i]) || t.Phase == PhaseSyncFail || t.Key.Namespace == "" {
			continue
		}
		if e, ok := earliest[t.Key.Namespace]; !ok || before(t, e) {
			earliest[t.Key.Namespace] = t
		}
	}
	for i, t := range tasks {
		if t.Hook || t.Key.Group != "" || t.Key.Kind != "Namespace" {
			continue
		}
		if first, ok := earliest[t.Key.Name]; ok && before(first, t) {
			tasks[i].Phase, tasks[i].Wave = first.Phase, min(t.Wave, first.Wave-1)
		}
	}
	return tasks
}

// before reports whether a runs in an earlier phase, or the same phase and
// an earlier wave, than b.
func before(a, b Task) bool {
	return phaseRank(a.Phase) < phaseRank(b.Phase) || (a.Phase == b.Phase && a.Wave < b.Wave)
}

// isPrerequisiteKind reports the kinds others depend on: the ones kindOrder
// lists before the first workload, in Kubernetes' own groups (a custom
// resource named Service, as Knative's, is a workload).
func isPrerequisiteKind(k Key) bool {
	return builtinGroups[k.Group] && kindRank(k) < slices.Index(kindOrder, "DaemonSet")
}

// builtinGroups are the API groups of the kinds kindOrder lists before the
// workloads.
var builtinGroups = map[string]bool{"": true, "networking.k8s.io": true, "policy": true, "storage.k8s.io": true,
	"apiextensions.k8s.io": true, "rbac.authorization.k8s.io": true}

func compareTasks(a, b Task) int {
	return cmp.Or(
		cmp.Compare(phaseRank(a.Phase), phaseRank(b.Phase)),
		cmp.Compare(a.Wave, b.Wave),
		cmp.Compare(kindRank(a.Key), kindRank(b.Key)),
		cmp.Compare(a.Key.Kind, b.Key.Kind),
		cmp.Compare(a.Key.Namespace, b.Key.Namespace),
		cmp.Compare(a.Key.Name, b.Key.Name),
	)
}

func phaseRank(p Phase) int {
	return map[Phase]int{PhasePreSync: 0, PhaseSync: 1, PhasePostSync: 2, PhaseSyncFail: 3}[p]
}

// kindOrder is the order in which kinds others depend on are applied (Helm's
// install order, which Argo CD uses); other kinds come after these.
var kindOrder = []string{
	"Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange", "PodSecurityPolicy", "PodDisruptionBudget",
	"ServiceAccount", "Secret", "SecretList", "ConfigMap", "StorageClass", "PersistentVolume",
	"PersistentVolumeClaim", "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
	"ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service", "DaemonSet", "Pod",
	"ReplicationController", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "StatefulSet", "Job",
	"CronJob", "IngressClass", "Ingress", "APIService",
}

func kindRank(k Key) int {
	if i := slices.Index(kindOrder, k.Kind); i >= 0 {
		return i
	}
	return len(kindOrder)
}

// group cuts sorted tasks into steps of one phase and wave.
func group(tasks []Task) []Step {
	var steps []Step
	for _, t := range tasks {
		if n := len(steps); n > 0 && steps[n-1].Phase == t.Phase && steps[n-1].Wave == t.Wave && !steps[n-1].Prune {
			steps[n-1].Tasks = append(steps[n-1].Tasks, t)
			continue
		}
		steps = append(steps, Step{Phase: t.Phase, Wave: t.Wave, Tasks: []Task{t}})
	}
	return steps
}

// pruneSteps orders prunes highest wave first, reverse kind order within a
// wave (Deployments before the ConfigMaps they use, Namespaces last).
func pruneSteps(tasks []Task) []Step {
	slices.SortStableFunc(tasks, func(a, b Task) int {
		return cmp.Or(cmp.Compare(b.Wave, a.Wave), cmp.Compare(kindRank(b.Key), kindRank(a.Key)),
			cmp.Compare(a.Key.Namespace, b.Key.Namespace), cmp.Compare(a.Key.Name, b.Key.Name))
	})
	var steps []Step
	for _, t := range tasks {
		if n := len(steps); n > 0 && steps[n-1].Wave == t.Wave {
			steps[n-1].Tasks = append(steps[n-1].Tasks, t)
			continue
		}
		steps = append(steps, Step{Phase: t.Phase, Wave: t.Wave, Prune: true, Tasks: []Task{t}})
	}
	return steps
}

// insertAfterPhase inserts extra after the last step of phase (or where
// that phase would be).
func insertAfterPhase(steps []Step, phase Phase, extra []Step) []Step {
	if len(extra) == 0 {
		return steps
	}
	i := 0
	for i < len(steps) && phaseRank(steps[i].Phase) <= phaseRank(phase) {
		i++
	}
	return slices.Insert(steps, i, extra...)
}
