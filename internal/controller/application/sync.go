package application

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/diff"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// syncTrigger is a sync to run: an operation someone asked for, or an
// automated sync.
type syncTrigger struct {
	op         v1alpha1.Operation // recorded in operationState
	revision   string             // as asked for; resolved before the sync
	prune      bool
	dryRun     bool
	options    []string
	only       []fsync.Key
	retry      retryPolicy
	retryCount int64
	automated  bool
}

// syncTrigger decides whether to sync now. An operation always runs. An
// automated sync runs when the Application is out of sync and either the
// revision is new (not the one last synced), or selfHeal is on. A failed
// automated sync of a revision is retried with backoff up to the retry
// limit, then not again until a new revision or a manual sync. wait, when
// non-zero, is when the next retry is due.
func (r *Reconciler) syncTrigger(app *v1alpha1.Application, revision string, states []resourceState) (*syncTrigger, time.Duration) {
	if op := app.Operation; op != nil && op.Sync != nil {
		t := &syncTrigger{op: *op.DeepCopy(), revision: op.Sync.Revision, prune: op.Sync.Prune, dryRun: op.Sync.DryRun,
			options: append(syncOptionsOf(app), op.Sync.SyncOptions...), retry: retryPolicyOf(&op.Retry, false)}
		if t.revision == "" {
			t.revision = app.Spec.Source.TargetRevision
		}
		for _, res := range op.Sync.Resources {
			t.only = append(t.only, fsync.Key{Group: res.Group, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name})
		}
		if last := r.lastSync(app); last != nil && isFailed(last.Phase) && last.Operation.Sync != nil && !last.Operation.InitiatedBy.Automated {
			t.retryCount = last.RetryCount + 1
		}
		return t, 0
	}
	if app.Spec.SyncPolicy == nil || app.Spec.SyncPolicy.Automated == nil {
		return nil, 0
	}
	auto := app.Spec.SyncPolicy.Automated
	if !needsSync(states, auto.Prune) {
		return nil, 0
	}
	t := &syncTrigger{
		op: v1alpha1.Operation{
			Sync:        &v1alpha1.SyncOperation{Revision: revision, Prune: auto.Prune, SyncOptions: syncOptionsOf(app)},
			InitiatedBy: v1alpha1.OperationInitiator{Automated: true},
		},
		revision: revision, prune: auto.Prune, options: syncOptionsOf(app), automated: true,
		retry: retryPolicyOf(app.Spec.SyncPolicy.Retry, true),
	}
	last := r.lastSync(app)
	lastRevision := ""
	if last != nil && last.SyncResult != nil {
		lastRevision = last.SyncResult.Revision
	}
	if last != nil && isFailed(last.Phase) && lastRevision == revision {
		if last.RetryCount >= t.retry.limit {
			return nil, 0
		}
		due := last.FinishedAt.Add(t.retry.backoff(last.RetryCount))
		if wait := time.Until(due); wait > 0 {
			return nil, wait
		}
		t.retryCount = last.RetryCount + 1
		return t, 0
	}
	if lastRevision == revision && !auto.SelfHeal {
		return nil, 0
	}
	return t, 0
}

// lastSync is the last sync's state: the one this process ran, which the
// watch cache may not show yet, else the one in status.
func (r *Reconciler) lastSync(app *v1alpha1.Application) *v1alpha1.OperationState {
	if s := r.tracker.lastSync(appKey(app)); s != nil {
		return s
	}
	return app.Status.OperationState
}

// needsSync reports whether anything is out of sync that a sync would fix.
func needsSync(states []resourceState, prune bool) bool {
	for _, s := range states {
		if s.desired && s.sync != v1alpha1.SyncStatusCodeSynced && (s.owner == "" || s.owner == s.expectedOwner) {
			return true
		}
		if s.requiresP && prune && !s.pruneOff {
			return true
		}
	}
	return false
}

func isFailed(p v1alpha1.OperationPhase) bool {
	return p == v1alpha1.OperationFailed || p == v1alpha1.OperationError
}

func syncOptionsOf(app *v1alpha1.Application) []string {
	if app.Spec.SyncPolicy == nil {
		return nil
	}
	return append([]string(nil), app.Spec.SyncPolicy.SyncOptions...)
}

// syncResult is what a sync asks of the request's end.
type syncResult struct {
	done         bool // the operation is finished (succeeded, or no retry left)
	requeueAfter time.Duration
}

// sync runs one sync and records it in operationState, history, conditions
// and events.
func (r *Reconciler) sync(ctx context.Context, app *v1alpha1.Application, dst *target, d *desiredState, states []resourceState, ig *diff.Ignorer, t *syncTrigger, conds *conditions) syncResult {
	// After a sync by this process, the cached copy may predate the history
	// it wrote: read history from the API server then.
	if r.tracker.lastSync(appKey(app)) != nil {
		fresh := &v1alpha1.Application{}
		if err := r.direct.Get(ctx, appKey(app), fresh); err == nil {
			app.Status.History = fresh.Status.History
		}
	}
	started := metav1.Now()
	state := &v1alpha1.OperationState{Operation: t.op, Phase: v1alpha1.OperationRunning, StartedAt: started, RetryCount: t.retryCount}
	app.Status.OperationState = state
	// A requested sync shows itself Running at once; an automated one only
	// when its plan makes it wait (hooks, several steps): nobody asked, and
	// every write costs, but a sync waiting on a wave must be visible.
	var p *progress
	if !t.automated {
		p = r.startProgress(ctx, app, state)
	}
	progressFor := func(plan fsync.Plan) *progress {
		if p == nil && plan.Waits() {
			p = r.startProgress(ctx, app, state)
		}
		return p
	}
	defer func() {
		if p != nil {
			p.close()
		}
	}()
	src := *app.Spec.Source
	run, err := r.runSync(ctx, app, dst, d, ig, t, progressFor)
	outcomes, revision := run.outcomes, run.revision
	finished := metav1.Now()
	state.FinishedAt = &finished
	state.SyncResult = &v1alpha1.SyncOperationResult{Revision: revision, Source: src, Resources: resourceResults(outcomes)}
	r.tracker.invalidate(appKey(app), run.plan.Objects())
	defer r.tracker.recordSync(appKey(app), state)
	defer func() { r.countSync(app, state, outcomes) }()
	if interrupted := (*fsync.InterruptedError)(nil); errors.As(err, &interrupted) {
		// Stopped between steps or while waiting, with every applied object
		// reported; the next sync plans from the start. Not a failure to
		// retry: a terminated operation is over, a superseded revision
		// gives way to the new one at once.
		state.Phase = v1alpha1.OperationFailed
		state.Message = err.Error()
		ctrl.LoggerFrom(ctx).Info("sync interrupted", "application", appKey(app), "revision", revision, "reason", interrupted.Reason)
		r.events.Eventf(app, nil, "Warning", "SyncInterrupted", "Sync", "sync to %s stopped: %s", short(revision), interrupted.Reason)
		return syncResult{done: true, requeueAfter: 100 * time.Millisecond}
	}
	if err != nil {
		state.Phase = v1alpha1.OperationFailed
		state.Message = err.Error()
		conds.set(v1alpha1.ApplicationConditionSyncError, "sync failed: "+err.Error())
		r.events.Eventf(app, nil, "Warning", "SyncFailed", "Sync", "sync to %s failed: %s", short(revision), err.Error())
		if t.retryCount < t.retry.limit {
			return syncResult{requeueAfter: t.retry.backoff(t.retryCount)}
		}
		return syncResult{done: true, requeueAfter: r.opts.PollInterval}
	}
	conds.clear(v1alpha1.ApplicationConditionSyncError)
	state.Phase = v1alpha1.OperationSucceeded
	state.Message = "successfully synced (all tasks run)"
	if t.dryRun {
		state.Message = "dry run: nothing applied"
		return syncResult{done: true, requeueAfter: time.Second}
	}
	appendHistory(app, v1alpha1.RevisionHistory{Revision: revision, DeployedAt: finished, DeployStartedAt: &started,
		Source: src, InitiatedBy: t.op.InitiatedBy})
	r.events.Eventf(app, nil, "Normal", "Synced", "Sync", "synced to %s: %s", short(revision), summarize(outcomes))
	if r.recordSynced(app, states, run, conds) {
		return syncResult{done: true, requeueAfter: r.opts.PollInterval}
	}
	// A partial sync: the next comparison, soon, reports the result.
	return syncResult{done: true, requeueAfter: time.Second}
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
func (r *Reconciler) recordSynced(app *v1alpha1.Application, before []resourceState, run syncRun, conds *conditions) bool {
	p := run.plan
	if len(p.Shared) > 0 || len(p.RequiresPruning) > 0 || len(p.Kept) > 0 || run.partial {
		return false
	}
	compared := make(map[fsync.Key]*unstructured.Unstructured, len(before))
	for _, s := range before {
		compared[s.key] = s.live
	}
	applied := p.Objects()
	states := make([]resourceState, 0, len(applied))
	objects := make(map[fsync.Key]tracked, len(applied))
	for _, obj := range applied {
		k := fsync.KeyOf(obj)
		live := obj // applied: the server's response
		if obj.GetResourceVersion() == "" {
			if live = compared[k]; live == nil {
				return false
			}
		}
		wave, _ := fsync.SyncWave(obj)
		s := resourceState{key: k, version: obj.GetAPIVersion(), desired: true, live: live, sync: v1alpha1.SyncStatusCodeSynced, wave: wave}
		r.finish(app, &s)
		states = append(states, s)
		objects[k] = tracked{version: s.version, desired: true, fp: fingerprintOf(live), sync: s.sync, health: s.health.Status, wave: wave}
	}
	src := *app.Spec.Source
	r.tracker.remember(appKey(app), inputsKey(app, src, run.revision), objects)
	setCompared(app, src, run.revision, states, conds)
	return true
}

// syncRun is what runSync did.
type syncRun struct {
	outcomes []fsync.Outcome
	revision string
	plan     fsync.Plan
	partial  bool // a selective sync (operation.sync.resources)
}

// runSync renders the revision to sync (when it is not the one compared),
// plans and executes.
func (r *Reconciler) runSync(ctx context.Context, app *v1alpha1.Application, dst *target, d *desiredState, ig *diff.Ignorer, t *syncTrigger, progressFor func(fsync.Plan) *progress) (syncRun, error) {
	src := *app.Spec.Source
	run := syncRun{revision: t.revision, partial: len(t.only) > 0}
	var err error
	// An operation names a revision as a person does ("main"): resolve it
	// now, not from the last listing. An automated sync carries a commit.
	if run.revision, err = r.sources.Resolve(ctx, src.RepoURL, t.revision, !t.automated); err != nil {
		return syncRun{revision: t.revision}, fmt.Errorf("resolve %q: %w", t.revision, err)
	}
	if d == nil || d.revision != run.revision {
		if d, err = r.renderDesired(ctx, app, dst, src, run.revision); err != nil {
			return run, err
		}
	}
	instance := InstanceName(r.opts.HomeNamespace, appKey(app))
	live, err := r.liveInfo(ctx, app, dst, d)
	if err != nil {
		return run, err
	}
	desired := make([]*unstructured.Unstructured, len(d.objects))
	for i, o := range d.objects {
		desired[i] = o.DeepCopy() // the executor writes the server's response into them
	}
	hooks := make([]*unstructured.Unstructured, len(d.hooks))
	for i, o := range d.hooks {
		hooks[i] = o.DeepCopy()
	}
	if syncOptionSet(t.options, "RespectIgnoreDifferences=true") {
		if err := keepIgnoredFields(ctx, dst, desired, ig); err != nil {
			return run, err
		}
	}
	allowEmpty := app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil && app.Spec.SyncPolicy.Automated.AllowEmpty
	run.plan = fsync.MakePlan(fsync.PlanInput{App: instance, Desired: desired, Hooks: hooks, Live: live, Prune: t.prune,
		AllowEmpty: allowEmpty, Only: t.only, PruneLast: syncOptionSet(t.options, "PruneLast=true")})
	if t.dryRun {
		run.outcomes = plannedOutcomes(run.plan)
		return run, nil
	}
	if ns := app.Spec.Destination.Namespace; ns != "" && syncOptionSet(t.options, "CreateNamespace=true") {
		if err := dst.executor.EnsureNamespace(ctx, ns); err != nil {
			return run, err
		}
	}
	var report func(fsync.Outcome)
	terminated := func() bool { return false }
	if p := progressFor(run.plan); p != nil {
		report, terminated = p.report, p.terminated
	}
	run.outcomes, err = dst.executor.Execute(ctx, instance, run.plan, fsync.ExecOptions{
		WaveTimeout: r.opts.WaveTimeout, Report: report, Interrupted: r.interruption(app, t, run.revision, terminated)})
	for _, k := range run.plan.RequiresPruning {
		run.outcomes = append(run.outcomes, fsync.Outcome{Key: k, Action: "prune-skipped", Message: "ignored (requires pruning)"})
	}
	for _, k := range run.plan.Kept {
		run.outcomes = append(run.outcomes, fsync.Outcome{Key: k, Action: "prune-skipped", Message: "ignored (Prune=false)"})
	}
	if err == nil && len(run.plan.Shared) > 0 {
		var names []string
		for _, s := range run.plan.Shared {
			names = append(names, fmt.Sprintf("%s (owned by %s)", s.Key, s.Owner))
		}
		r.events.Eventf(app, nil, "Warning", "SharedResourceWarning", "Sync", "left untouched: %s", strings.Join(names, ", "))
	}
	return run, err
}

// interruption returns what a sync asks between steps and while it waits:
// whether to stop, and why. A sync stops when its operation is terminated
// (status.operationState.phase Terminating, as argocd app terminate-op
// writes it), when the Application is being deleted, and, for an automated
// sync, when the branch it follows moved on: syncing a superseded revision
// to the end would only delay the one Git now holds. An operation someone
// asked for runs to the end or until terminated.
func (r *Reconciler) interruption(app *v1alpha1.Application, t *syncTrigger, revision string, terminated func() bool) func(context.Context) string {
	key, src := appKey(app), *app.Spec.Source
	return func(ctx context.Context) string {
		if terminated() {
			return "terminated by request"
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
			return "terminated by request"
		}
		if !t.automated {
			return ""
		}
		if rev, err := r.sources.Resolve(ctx, src.RepoURL, src.TargetRevision, false); err == nil && rev != revision {
			return fmt.Sprintf("revision %s superseded by %s", short(revision), short(rev))
		}
		return ""
	}
}

// liveInfo reads, from the watch cache, ownership of every desired object
// and every object the Application managed before.
func (r *Reconciler) liveInfo(ctx context.Context, app *v1alpha1.Application, dst *target, d *desiredState) (map[fsync.Key]fsync.LiveInfo, error) {
	states := r.statesFor(app, d)
	live := make(map[fsync.Key]fsync.LiveInfo, len(states))
	for _, s := range states {
		u := dst.cached(ctx, s.key, s.version)
		if u == nil {
			continue
		}
		owner, _ := fsync.Owner(u)
		opts := u.GetAnnotations()[fsync.SyncOptionsAnnotation]
		wave, _ := fsync.SyncWave(u) // a live object's bad wave prunes it in wave 0
		live[s.key] = fsync.LiveInfo{Owner: owner, PruneDisabled: hasSyncOption(opts, "Prune=false"),
			Wave: wave, PruneLast: hasSyncOption(opts, "PruneLast=true")}
	}
	return live, nil
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
		live, err := dst.confirmed(ctx, fsync.KeyOf(obj), obj.GetAPIVersion())
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
			o := fsync.Outcome{Key: t.Key, Action: "would apply", Phase: s.Phase, Wave: s.Wave, Hook: t.Hook}
			switch {
			case s.Prune:
				o.Action = "would prune"
			case t.Hook:
				o.Action = "would run"
			}
			if t.Object != nil {
				o.Version = t.Object.GetAPIVersion()
			}
			out = append(out, o)
		}
	}
	return out
}

func resourceResults(outcomes []fsync.Outcome) []v1alpha1.ResourceResult {
	out := make([]v1alpha1.ResourceResult, 0, len(outcomes))
	for _, o := range outcomes {
		res := v1alpha1.ResourceResult{Group: o.Key.Group, Version: versionOf(o.Version), Kind: o.Key.Kind,
			Namespace: o.Key.Namespace, Name: o.Key.Name, Message: o.Message, SyncPhase: v1alpha1.SyncPhase(cmp.Or(o.Phase, fsync.PhaseSync)),
			SyncWave: o.Wave, HookPhase: v1alpha1.OperationPhase(o.State)}
		switch {
		case o.Hook:
			res.HookType = v1alpha1.HookType(o.Phase) // Status stays empty for hooks, as in Argo CD
		case o.Action == fsync.Pruned:
			res.Status = v1alpha1.ResultCodePruned
		case o.Action == "prune-skipped":
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

// retryPolicy is a sync's retry limit and backoff.
type retryPolicy struct {
	limit    int64
	duration time.Duration
	factor   int64
	max      time.Duration
}

// retryPolicyOf reads a retry strategy. Without one, automated syncs are
// retried 5 times (a failed sync is retried and reported, never dropped),
// manual operations not at all, as in Argo CD. Backoff defaults to Argo CD's:
// 5s, doubling, at most 3m.
func retryPolicyOf(rs *v1alpha1.RetryStrategy, automated bool) retryPolicy {
	p := retryPolicy{duration: 5 * time.Second, factor: 2, max: 3 * time.Minute}
	if automated {
		p.limit = 5
	}
	if rs == nil {
		return p
	}
	if rs.Limit != 0 || !automated {
		p.limit = rs.Limit
	}
	if rs.Limit < 0 {
		p.limit = 1 << 62 // negative: retry forever, as in Argo CD
	}
	if b := rs.Backoff; b != nil {
		if d, err := time.ParseDuration(b.Duration); err == nil && d > 0 {
			p.duration = d
		}
		if b.Factor != nil && *b.Factor > 0 {
			p.factor = *b.Factor
		}
		if d, err := time.ParseDuration(b.MaxDuration); err == nil && d > 0 {
			p.max = d
		}
	}
	return p
}

// backoff is the wait before retry number attempt+1.
func (p retryPolicy) backoff(attempt int64) time.Duration {
	d := p.duration
	for range attempt {
		d *= time.Duration(p.factor)
		if d >= p.max {
			return p.max
		}
	}
	return min(d, p.max)
}
