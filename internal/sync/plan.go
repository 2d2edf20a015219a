package sync

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// LiveInfo is what the planner needs to know of a live object.
type LiveInfo struct {
	// Owner is the Application named by the object's tracking annotation,
	// empty when none.
	Owner string
	// PruneDisabled is set by the annotation
	// argocd.argoproj.io/sync-options: Prune=false.
	PruneDisabled bool
	// Wave is the object's sync wave, which orders its prune.
	Wave int64
	// PruneLast is set by argocd.argoproj.io/sync-options: PruneLast=true.
	PruneLast bool
	// PruneConfirm is set by Prune=confirm: the object is pruned only once
	// its deletion is approved (see Confirmation), and deleted with its
	// Application likewise.
	PruneConfirm bool
	// DeleteDisabled is set by Delete=false: deleting the Application with
	// cascade keeps the object.
	DeleteDisabled bool
	// DeleteConfirm is set by Delete=confirm: deleting the Application with
	// cascade deletes the object only once approved (see PlanDeletion).
	DeleteConfirm bool
	// ResourceVersion is the live object's as last seen, when known: the
	// executor applies such an object directly and tells "unchanged" from
	// "configured" by the version the server returns (see Plan.Seen).
	ResourceVersion string
}

// PlanInput is everything a sync decision depends on.
type PlanInput struct {
	// App is the Application's name, as written in tracking annotations.
	App string
	// Desired are the prepared objects (see Prepare), hooks excluded.
	Desired []*unstructured.Unstructured
	// Hooks are the prepared objects IsHook reports. They run in their
	// phases, unless the sync is selective (Only), as in Argo CD.
	Hooks []*unstructured.Unstructured
	// Live describes the live objects that exist, among the desired ones and
	// the ones the Application managed before; absent keys do not exist.
	Live map[Key]LiveInfo
	// Prune allows deleting managed objects that are no longer desired.
	Prune bool
	// AllowEmpty allows a sync when nothing is desired, pruning everything.
	AllowEmpty bool
	// Only, when not empty, restricts the sync to these objects.
	Only []Key
	// PruneLast is the Application's syncOptions PruneLast=true.
	PruneLast bool
	// MayPrune, when set, is asked before each prune; a non-empty answer
	// (why not) keeps the object, reported in Plan.Denied. The Application
	// controller refuses to delete what the project would not let the
	// Application create.
	MayPrune func(Key) string
	// Confirmation approves prunes of objects marked Prune=confirm: one is
	// pruned only when the Confirmation approves its key, else it is kept,
	// in Plan.Held.
	Confirmation Confirmation
}

// Denied is a prune refused by PlanInput.MayPrune.
type Denied struct {
	Key    Key
	Reason string
}

// Objects returns every object the plan applies, created or not.
func (p Plan) Objects() []*unstructured.Unstructured {
	return append(append([]*unstructured.Unstructured(nil), p.Create...), p.Apply...)
}

// Shared is a desired object that another Application owns.
type Shared struct {
	Key   Key
	Owner string
}

// Plan is what a sync will do.
type Plan struct {
	// Create are the objects to apply that do not exist yet.
	Create []*unstructured.Unstructured
	// Apply are the existing objects to apply.
	Apply []*unstructured.Unstructured
	// Seen are the resourceVersions of Apply objects as last seen (from
	// LiveInfo), by key; an object without one is compared before it is
	// applied.
	Seen map[Key]string
	// Prune are the live objects to delete.
	Prune []Key
	// RequiresPruning are objects that would be pruned if pruning were on.
	RequiresPruning []Key
	// Kept are objects no longer desired that are marked Prune=false: left
	// in place, and still reported.
	Kept []Key
	// Shared are desired objects left untouched because another Application
	// owns them.
	Shared []Shared
	// Denied are objects no longer desired that MayPrune refused to delete:
	// left in place, and still reported.
	Denied []Denied
	// Held are objects no longer desired, marked Prune=confirm, that a
	// prune would delete but whose deletion is not approved yet: left in
	// place, and still reported, until PlanInput.Confirmation approves them.
	Held []Key
	// Refusal, when set, says why the sync does nothing at all.
	Refusal string
	// Steps orders Create, Apply, Prune and the hooks (see Steps).
	Steps []Step
	// SyncFail are the hooks to run when the sync fails.
	SyncFail []Task
}

// MakePlan decides what a sync does. It never prunes an object another
// Application owns, never prunes an object marked Prune=false, prunes one
// marked Prune=confirm only once approved (Prune=false wins), and when
// nothing is desired it does nothing unless AllowEmpty is set: an empty
// render is far more often a mistake (a wrong path, a broken overlay) than a
// wish to delete everything.
func MakePlan(in PlanInput) Plan {
	var p Plan
	selected := func(k Key) bool { return len(in.Only) == 0 || slices.Contains(in.Only, k) }
	desired := make(map[Key]bool, len(in.Desired))
	for _, obj := range in.Desired {
		k := KeyOf(obj)
		desired[k] = true
		if !selected(k) {
			continue
		}
		live, exists := in.Live[k]
		switch {
		case !exists:
			p.Create = append(p.Create, obj)
		case live.Owner != "" && live.Owner != in.App:
			p.Shared = append(p.Shared, Shared{Key: k, Owner: live.Owner})
		default:
			p.Apply = append(p.Apply, obj)
			if live.ResourceVersion != "" {
				if p.Seen == nil {
					p.Seen = map[Key]string{}
				}
				p.Seen[k] = live.ResourceVersion
			}
		}
	}
	var prunes []PruneTask
	for k, live := range in.Live {
		if desired[k] || live.Owner != in.App || !selected(k) {
			continue
		}
		if live.PruneDisabled {
			p.Kept = append(p.Kept, k)
			continue
		}
		if in.MayPrune != nil {
			if why := in.MayPrune(k); why != "" {
				p.Denied = append(p.Denied, Denied{Key: k, Reason: why})
				continue
			}
		}
		switch {
		case !in.Prune:
			p.RequiresPruning = append(p.RequiresPruning, k)
		case live.PruneConfirm && !in.Confirmation.Approves(k):
			p.Held = append(p.Held, k)
		default:
			p.Prune = append(p.Prune, k)
			prunes = append(prunes, PruneTask{Key: k, Wave: live.Wave, PruneLast: live.PruneLast})
		}
	}
	slices.SortFunc(p.Prune, CompareKeys)
	slices.SortFunc(p.RequiresPruning, CompareKeys)
	slices.SortFunc(p.Kept, CompareKeys)
	slices.SortFunc(p.Held, CompareKeys)
	slices.SortFunc(p.Denied, func(a, b Denied) int { return CompareKeys(a.Key, b.Key) })
	if len(in.Desired) == 0 && !in.AllowEmpty {
		needs := slices.Concat(p.Prune, p.Held, p.RequiresPruning)
		slices.SortFunc(needs, CompareKeys)
		return Plan{RequiresPruning: needs,
			Refusal: fmt.Sprintf("the source rendered no objects; refusing to sync (and prune %d managed objects) without syncPolicy.automated.allowEmpty", len(needs))}
	}
	hooks := in.Hooks
	if len(in.Only) > 0 {
		hooks = nil
	}
	var err error
	p.Steps, p.SyncFail, err = Steps(StepsInput{Desired: append(p.Objects(), hooks...), Prune: prunes, PruneLast: in.PruneLast})
	if err != nil {
		return Plan{Refusal: err.Error()}
	}
	return p
}

// Waits reports whether executing the plan waits on something: hooks to
// finish, or a step to become healthy before the next.
func (p Plan) Waits() bool {
	if len(p.SyncFail) > 0 {
		return true
	}
	for i := range p.Steps {
		if waitsAfter(p.Steps, i) {
			return true
		}
	}
	return false
}

// waitsAfter reports whether the executor waits after step i for its
// objects to become healthy and its hooks to finish: when the step runs
// hooks, or a later step applies something. The last apply step of a sync
// without hooks is not waited on; prune steps never are.
func waitsAfter(steps []Step, i int) bool {
	if steps[i].Prune {
		return false
	}
	if slices.ContainsFunc(steps[i].Tasks, func(t Task) bool { return t.Hook }) {
		return true
	}
	return slices.ContainsFunc(steps[i+1:], func(s Step) bool { return !s.Prune })
}

// IsHook reports whether obj is a hook: not part of the Application's
// inventory, never compared or pruned. That is an object annotated
// argocd.argoproj.io/hook (Skip included) or, without it, helm.sh/hook
// (other than Helm 2's crd-install), as Argo CD reads Helm's hooks; a Helm
// hook Argo CD does not run (test, pre-delete, ...) is still a hook, one
// that never runs.
func IsHook(obj *unstructured.Unstructured) bool {
	_, ok := obj.GetAnnotations()[HookAnnotation]
	return ok || isHelmHook(obj)
}
