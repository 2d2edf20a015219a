package application

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/redact"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// syncResult is what a sync asks of the request's end.
type syncResult struct {
	done         bool // the operation is finished (succeeded, or no retry left)
	requeueAfter time.Duration
}

// sync runs one sync and records it in operationState, history, conditions
// and events.
func (r *Reconciler) sync(ctx context.Context, rn *run, req *appstate.SyncRequest) syncResult {
	app, conds := rn.app, rn.conds
	// After a sync by this process, the cached copy may predate the history
	// it wrote: read history from the API server then.
	if r.tracker.lastSync(appKey(app)) != nil {
		fresh := &v1alpha1.Application{}
		if err := r.direct.Get(ctx, appKey(app), fresh); err == nil {
			app.Status.History = fresh.Status.History
		}
	}
	started := metav1.Now()
	if req.Resume != nil {
		started = req.Resume.StartedAt // the same operation, continued
		ctrl.LoggerFrom(ctx).Info("resuming a sync left running", "application", appKey(app), "revision", req.Revision, "startedAt", started)
	}
	state := &v1alpha1.OperationState{Operation: req.Operation, Phase: v1alpha1.OperationRunning, StartedAt: started, RetryCount: req.RetryCount}
	app.Status.OperationState = state
	// A requested sync shows itself Running at once; an automated one only
	// when its plan makes it wait (hooks, several steps): nobody asked, and
	// every write costs, but a sync waiting on a wave must be visible.
	var p *progress
	if !req.Automated {
		p = r.startProgress(ctx, app, state)
	}
	progressFor := func(plan fsync.Plan, revision string) *progress {
		if p == nil && plan.Waits() {
			p = r.startProgress(ctx, app, state)
		}
		if p != nil {
			p.resolved(r.opts.Notifier, revision)
		}
		return p
	}
	defer func() {
		if p != nil {
			p.close()
		}
	}()
	sr, err := r.runSync(ctx, rn, req, operationID(started, req.RetryCount), progressFor)
	outcomes, revision := sr.outcomes, sr.revision
	finished := metav1.Now()
	state.FinishedAt = &finished
	rev, revs := appstate.StatusRevisions(app, revision)
	state.SyncResult = &v1alpha1.SyncOperationResult{Revision: rev, Revisions: revs, Resources: resourceResults(outcomes)}
	hist := v1alpha1.RevisionHistory{Revision: rev, Revisions: revs, DeployedAt: finished, DeployStartedAt: &started,
		InitiatedBy: req.Operation.InitiatedBy}
	if appstate.MultiSource(app) {
		state.SyncResult.Sources, hist.Sources = app.Spec.Sources, app.Spec.Sources
	} else {
		state.SyncResult.Source, hist.Source = *app.Spec.Source, *app.Spec.Source
	}
	r.tracker.invalidate(appKey(app), sr.plan.Objects())
	defer r.tracker.recordSync(appKey(app), state)
	defer func() { r.countSync(app, state, outcomes) }()
	if interrupted := (*fsync.InterruptedError)(nil); errors.As(err, &interrupted) {
		// Stopped between steps or while waiting, with every applied object
		// reported; the next sync plans from the start. Not a failure to
		// retry: a terminated operation is over, a superseded revision
		// gives way to the new one at once.
		state.Phase = v1alpha1.OperationFailed
		state.Message = redact.Text(err.Error())
		ctrl.LoggerFrom(ctx).Info("sync interrupted", "application", appKey(app), "revision", revision, "reason", interrupted.Reason)
		r.events.Eventf(app, nil, eventWarning, reasonSyncInterrupted, actionSync, "sync to %s stopped: %s", appstate.Short(revision), interrupted.Reason)
		return syncResult{done: true, requeueAfter: 100 * time.Millisecond}
	}
	if err != nil {
		state.Phase = v1alpha1.OperationFailed
		state.Message = redact.Text(err.Error())
		conds.set(v1alpha1.ApplicationConditionSyncError, "sync failed: "+err.Error())
		r.events.Eventf(app, nil, eventWarning, reasonSyncFailed, actionSync, "sync to %s failed: %s", appstate.Short(revision), err.Error())
		if req.RetryCount < req.Retry.Limit {
			return syncResult{requeueAfter: req.Retry.Backoff(req.RetryCount)}
		}
		return syncResult{done: true, requeueAfter: r.opts.PollInterval}
	}
	conds.clear(v1alpha1.ApplicationConditionSyncError)
	state.Phase = v1alpha1.OperationSucceeded
	state.Message = "successfully synced (all tasks run)"
	if req.DryRun {
		state.Message = "dry run: nothing applied"
		return syncResult{done: true, requeueAfter: time.Second}
	}
	appendHistory(app, hist)
	r.events.Eventf(app, nil, eventNormal, reasonSynced, actionSync, "synced to %s: %s", appstate.Short(revision), summarize(outcomes))
	if r.recordSynced(ctx, rn, sr, conds) {
		return syncResult{done: true, requeueAfter: r.opts.PollInterval}
	}
	// A partial sync: the next comparison, soon, reports the result.
	return syncResult{done: true, requeueAfter: time.Second}
}

// operationID names one attempt of an operation on the hooks it creates
// (sync.OperationAnnotation): its start, to the second as status keeps it,
// and its try. A resumed operation keeps both, so it finds its hooks; a
// retry is a new attempt and runs them again, as in Argo CD. Two attempts
// share a name only when both started in the same second with the same try
// and the first finished: a resume finds the second's status Running, so
// it could take the first's finished hook for its own. That needs a sync
// finished and another killed within one second; status keeps no finer time.
func operationID(started metav1.Time, try int64) string {
	return fmt.Sprintf("%s/%d", started.UTC().Format(time.RFC3339), try)
}

// resumeOf is what a sync left Running reported of its hooks.
func resumeOf(left *v1alpha1.OperationState) *fsync.Resume {
	if left == nil {
		return nil
	}
	res := &fsync.Resume{}
	if left.SyncResult == nil {
		return res
	}
	for _, r := range left.SyncResult.Resources {
		if r.HookType == "" {
			continue
		}
		res.Hooks = append(res.Hooks, fsync.Outcome{Key: fsync.Key{Group: r.Group, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name},
			Phase: fsync.Phase(r.HookType), Wave: r.SyncWave, Hook: true, State: fsync.State(r.HookPhase), Message: r.Message})
	}
	return res
}

// failOperation ends a requested operation that cannot start (its
// Application does not render, its spec is invalid) as a failed sync.
func (r *Reconciler) failOperation(rn *run, err error) {
	app := rn.app
	now := metav1.Now()
	app.Status.OperationState = &v1alpha1.OperationState{Operation: *app.Operation.DeepCopy(), Phase: v1alpha1.OperationFailed,
		Message: redact.Text(err.Error()), StartedAt: now, FinishedAt: &now}
	r.events.Eventf(app, nil, eventWarning, reasonSyncFailed, actionSync, "sync failed: %s", err.Error())
	r.tracker.recordSync(appKey(app), app.Status.OperationState)
	rn.out.clearOperation = true
}

// countSync counts a finished sync and what it wrote, for the metrics.
func (r *Reconciler) countSync(app *v1alpha1.Application, state *v1alpha1.OperationState, outcomes []fsync.Outcome) {
	if state.Phase == v1alpha1.OperationRunning || (state.Operation.Sync != nil && state.Operation.Sync.DryRun) {
		return
	}
	r.opts.Metrics.Synced(app.Namespace, app.Name, app.Spec.Project, string(state.Phase))
	counts := map[fsync.Action]int{}
	for _, o := range outcomes {
		counts[o.Action]++
	}
	for _, a := range []fsync.Action{fsync.Created, fsync.Configured, fsync.Unchanged, fsync.Pruned, fsync.SyncFailed} {
		r.opts.Metrics.Applied(string(a), counts[a])
	}
}

// recordSynced reports a sync that applied every desired object as the
// comparison it implies: after a server-side apply, each applied object is
// what the server returned, which is what a dry-run would predict, so it is
// in sync by construction; unchanged objects are as the comparison before
// the sync read them. Recording this saves comparing everything again right
// away. It declines (false) for partial syncs, which the next comparison
// reports instead.
func (r *Reconciler) recordSynced(ctx context.Context, rn *run, sr syncRun, conds *conditions) bool {
	app, before := rn.app, rn.cmp
	p := sr.plan
	if len(p.Shared) > 0 || len(p.RequiresPruning) > 0 || len(p.Kept) > 0 || len(p.Denied) > 0 || sr.partial {
		return false
	}
	compared := make(map[fsync.Key]*unstructured.Unstructured, len(before.Resources))
	for _, s := range before.Resources {
		compared[s.Key] = s.Live
	}
	instance := r.instance(app)
	applied := p.Objects()
	cmp := &appstate.Comparison{Revision: sr.revision, Resources: make([]appstate.ResourceState, 0, len(applied))}
	for _, obj := range applied {
		k := fsync.KeyOf(obj)
		live := obj // applied: the server's response
		if obj.GetResourceVersion() == "" {
			if live = compared[k]; live == nil {
				return false
			}
		}
		wave, _ := fsync.SyncWave(obj)
		s := appstate.ResourceState{Key: k, APIVersion: obj.GetAPIVersion(), Desired: true, Live: live, Sync: v1alpha1.SyncStatusCodeSynced, Wave: wave}
		appstate.Finish(instance, &s)
		cmp.Resources = append(cmp.Resources, s)
	}
	r.remember(app, r.inputsKey(ctx, app, rn.dst, sr.revision), sr.rendered, cmp)
	setCompared(app, sr.revision, cmp, conds)
	return true
}

func resourceResults(outcomes []fsync.Outcome) []v1alpha1.ResourceResult {
	out := make([]v1alpha1.ResourceResult, 0, len(outcomes))
	for _, o := range outcomes {
		res := v1alpha1.ResourceResult{Group: o.Key.Group, Version: appstate.VersionOf(o.Version), Kind: o.Key.Kind,
			Namespace: o.Key.Namespace, Name: o.Key.Name, Message: o.Message, SyncPhase: v1alpha1.SyncPhase(cmp.Or(o.Phase, fsync.PhaseSync)),
			SyncWave: o.Wave, HookPhase: v1alpha1.OperationPhase(o.State)}
		switch {
		case o.Hook:
			res.HookType = v1alpha1.HookType(o.Phase) // Status stays empty for hooks, as in Argo CD
		case o.Action == fsync.Pruned:
			res.Status = v1alpha1.ResultCodePruned
		case o.Action == fsync.PruneSkipped:
			res.Status = v1alpha1.ResultCodePruneSkipped
		case o.Action == fsync.SyncFailed || o.State == fsync.Failed:
			res.Status = v1alpha1.ResultCodeSyncFailed
		default:
			res.Status = v1alpha1.ResultCodeSynced
		}
		out = append(out, res)
	}
	return out
}

func summarize(outcomes []fsync.Outcome) string {
	counts := map[fsync.Action]int{}
	for _, o := range outcomes {
		counts[o.Action]++
	}
	return fmt.Sprintf("%d created, %d configured, %d unchanged, %d pruned",
		counts[fsync.Created], counts[fsync.Configured], counts[fsync.Unchanged], counts[fsync.Pruned])
}

// appendHistory adds a deployment with the next id and trims the history to
// revisionHistoryLimit (default 10), oldest first out.
func appendHistory(app *v1alpha1.Application, h v1alpha1.RevisionHistory) {
	var next int64
	for _, old := range app.Status.History {
		next = max(next, old.ID)
	}
	h.ID = next + 1
	app.Status.History = append(app.Status.History, h)
	limit := int64(10)
	if app.Spec.RevisionHistoryLimit != nil {
		limit = max(*app.Spec.RevisionHistoryLimit, 1)
	}
	if n := int64(len(app.Status.History)); n > limit {
		app.Status.History = app.Status.History[n-limit:]
	}
}

// lastSync is the last sync's state: the one this process ran, which the
// watch cache may not show yet, else the one in status.
func (r *Reconciler) lastSync(app *v1alpha1.Application) *v1alpha1.OperationState {
	if s := r.tracker.lastSync(appKey(app)); s != nil {
		return s
	}
	return app.Status.OperationState
}
