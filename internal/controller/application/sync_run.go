package application

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/diff"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// syncRun is what runSync did.
type syncRun struct {
	outcomes []fsync.Outcome
	revision string
	plan     fsync.Plan
	partial  bool // a selective sync (operation.sync.resources)
	// rendered is the hash of the desired objects synced
	// (appstate.Desired.Hash).
	rendered string
}

// runSync renders the revision to sync (when it is not the one compared),
// plans and executes; operation names the attempt on the hooks it creates.
func (r *Reconciler) runSync(ctx context.Context, rn *run, req *appstate.SyncRequest, operation string, progressFor func(fsync.Plan, string) *progress) (syncRun, error) {
	app, dst, d := rn.app, rn.dst, rn.desired
	sr := syncRun{revision: req.Revision, partial: len(req.Only) > 0}
	var err error
	// An operation names a revision as a person does ("main"): resolve it
	// now, not from the last listing. An automated sync carries a commit.
	revs := appstate.SplitRevisions(req.Revision, len(appstate.Sources(app)))
	if sr.revision, err = r.resolveAll(ctx, app, revs, nowIf(!req.Automated)); err != nil {
		return syncRun{revision: req.Revision}, fmt.Errorf("resolve %q: %w", appstate.ShortRevisions(req.Revision), err)
	}
	if d == nil || d.Revision != sr.revision {
		if d, err = r.desiredState(ctx, app, dst, sr.revision); err != nil {
			return sr, err
		}
	}
	sr.rendered = d.Hash()
	instance := r.instance(app)
	live := r.liveInfo(ctx, app, dst, d)
	desired := make([]*unstructured.Unstructured, len(d.Objects))
	for i, o := range d.Objects {
		desired[i] = o.DeepCopy() // the executor writes the server's response into them
	}
	hooks := make([]*unstructured.Unstructured, len(d.Hooks))
	for i, o := range d.Hooks {
		hooks[i] = o.DeepCopy()
	}
	if appstate.SyncOptionSet(req.Options, "RespectIgnoreDifferences=true") {
		if err := keepIgnoredFields(ctx, dst, desired, rn.ig); err != nil {
			return sr, err
		}
	}
	// The project is asked about every object the sync could create or
	// update, hooks of every phase included, before anything is applied:
	// one refused object fails the whole sync (CVE-2022-24768 was a hook
	// that escaped this check).
	if err := checkObjects(rn.project, dst, desired, hooks); err != nil {
		return sr, err
	}
	allowEmpty := app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil && app.Spec.SyncPolicy.Automated.AllowEmpty
	// Objects marked Prune=confirm are pruned once approved (confirm.go).
	var confirmation fsync.Confirmation
	var asked *v1alpha1.ApplicationCondition
	if req.Prune && asksConfirmation(live) {
		confirmation, asked = r.pruneConfirmation(ctx, app)
	}
	sr.plan = fsync.MakePlan(fsync.PlanInput{App: instance, Desired: desired, Hooks: hooks, Live: live, Prune: req.Prune,
		AllowEmpty: allowEmpty, Only: req.Only, PruneLast: appstate.SyncOptionSet(req.Options, "PruneLast=true"),
		MayPrune: prunePermit(rn.project, dst), Confirmation: confirmation})
	if req.DryRun {
		sr.outcomes = plannedOutcomes(sr.plan)
		return sr, nil
	}
	if sr.plan.Refusal == "" && req.Prune {
		r.recordHeld(rn, sr.plan.Held, req.Only, asked)
	}
	// Held objects are still the Application's: the comparison after this
	// sync must list them (requiring pruning), which recordSynced, listing
	// the applied objects only, would not.
	sr.partial = sr.partial || len(sr.plan.Held) > 0
	executor, err := syncExecutor(rn.project, app, dst)
	if err != nil {
		return sr, err
	}
	if ns := app.Spec.Destination.Namespace; ns != "" && appstate.SyncOptionSet(req.Options, "CreateNamespace=true") {
		if err := executor.EnsureNamespace(ctx, ns); err != nil {
			return sr, err
		}
	}
	var report func(fsync.Outcome)
	terminated := func() bool { return false }
	if p := progressFor(sr.plan, sr.revision); p != nil {
		report, terminated = p.report, p.terminated
	}
	sr.outcomes, err = executor.Execute(ctx, instance, sr.plan, fsync.ExecOptions{
		WaveTimeout: r.opts.WaveTimeout, Report: report, Interrupted: r.interruption(app, req, sr.revision, terminated),
		Operation: operation, Resume: resumeOf(req.Resume)})
	for _, k := range sr.plan.RequiresPruning {
		sr.outcomes = append(sr.outcomes, fsync.Outcome{Key: k, Action: fsync.PruneSkipped, Message: "ignored (requires pruning)"})
	}
	for _, k := range sr.plan.Kept {
		sr.outcomes = append(sr.outcomes, fsync.Outcome{Key: k, Action: fsync.PruneSkipped, Message: "ignored (Prune=false)"})
	}
	for _, d := range sr.plan.Denied {
		sr.outcomes = append(sr.outcomes, fsync.Outcome{Key: d.Key, Action: fsync.PruneSkipped, Message: d.Reason})
	}
	sr.outcomes = append(sr.outcomes, heldOutcomes(app, sr.plan.Held)...)
	if err == nil && len(sr.plan.Shared) > 0 {
		var names []string
		for _, s := range sr.plan.Shared {
			names = append(names, fmt.Sprintf("%s (owned by %s)", s.Key, s.Owner))
		}
		r.events.Eventf(app, nil, eventWarning, reasonSharedResource, actionSync, "left untouched: %s", strings.Join(names, ", "))
	}
	return sr, err
}

// interruption returns what a sync asks between steps and while it waits:
// whether to stop, and why. A sync stops when its operation is terminated
// (status.operationState.phase Terminating, as argocd app terminate-op
// writes it), when the Application is being deleted, and, for an automated
// sync, when the branch it follows moved on: syncing a superseded revision
// to the end would only delay the one Git now holds. An operation someone
// asked for runs to the end or until terminated.
func (r *Reconciler) interruption(app *v1alpha1.Application, req *appstate.SyncRequest, revision string, terminated func() bool) func(context.Context) string {
	key := appKey(app)
	return func(ctx context.Context) string {
		if terminated() {
			return appstate.MessageTerminated
		}
		cur := &v1alpha1.Application{}
		if err := r.client.Get(ctx, key, cur); err != nil {
			if isNotFound(err) {
				return "the application was deleted"
			}
			return "" // a failed read is no reason to stop; the next check asks again
		}
		if !cur.DeletionTimestamp.IsZero() {
			return "the application is being deleted"
		}
		if st := cur.Status.OperationState; st != nil && st.Phase == v1alpha1.OperationTerminating {
			return appstate.MessageTerminated
		}
		if !req.Automated {
			return ""
		}
		if rev, err := r.resolveAll(ctx, app, appstate.TargetRevisions(app, nil), time.Time{}); err == nil && rev != revision {
			return fmt.Sprintf("revision %s superseded by %s", appstate.Short(revision), appstate.Short(rev))
		}
		return ""
	}
}

// liveInfo reads, from the watch cache, ownership of every desired object
// and every object the Application managed before.
func (r *Reconciler) liveInfo(ctx context.Context, app *v1alpha1.Application, dst *target, d *appstate.Desired) map[fsync.Key]fsync.LiveInfo {
	states := appstate.States(app, d)
	live := make(map[fsync.Key]fsync.LiveInfo, len(states))
	for _, s := range states {
		u := dst.Cached(ctx, s.Key, s.APIVersion)
		if u == nil {
			continue
		}
		live[s.Key] = liveInfoOf(u)
	}
	return live
}

// keepIgnoredFields implements RespectIgnoreDifferences=true: fields the
// ignore rules select keep their live values, so a sync does not revert
// what the rules say to ignore (a server-side apply that dropped the field
// instead would release ownership and reset it).
func keepIgnoredFields(ctx context.Context, dst *target, desired []*unstructured.Unstructured, ig *diff.Ignorer) error {
	for _, obj := range desired {
		if !ig.Selects(obj) {
			continue
		}
		// From the API server: the cache strips the managedFields that
		// managedFieldsManagers rules need.
		live, err := dst.Confirmed(ctx, fsync.KeyOf(obj), obj.GetAPIVersion())
		if err != nil {
			return err
		}
		if live == nil {
			continue
		}
		if err := ig.CopySelected(live, obj); err != nil {
			return err
		}
	}
	return nil
}

// plannedOutcomes is what a dry run reports: every step's objects and
// hooks, in the order a sync would run them.
func plannedOutcomes(p fsync.Plan) []fsync.Outcome {
	var out []fsync.Outcome
	for _, s := range p.Steps {
		for _, t := range s.Tasks {
			o := fsync.Outcome{Key: t.Key, Action: fsync.WouldApply, Phase: s.Phase, Wave: s.Wave, Hook: t.Hook}
			switch {
			case s.Prune:
				o.Action = fsync.WouldPrune
			case t.Hook:
				o.Action = fsync.WouldRun
			}
			if t.Object != nil {
				o.Version = t.Object.GetAPIVersion()
			}
			out = append(out, o)
		}
	}
	return out
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
