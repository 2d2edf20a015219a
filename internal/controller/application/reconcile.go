package application

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/project"
	gitsource "github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Annotations Ferry reads on Applications, as Argo CD does.
const (
	// refreshAnnotation asks for an immediate refresh: "normal" lists the
	// repository's refs now; "hard" also drops cached renders. Ferry removes
	// it once done.
	refreshAnnotation = "argocd.argoproj.io/refresh"
)

// Drift is a managed object changed outside Git (see appstate.Drift).
type Drift = appstate.Drift

// outcome is what the reconcile asks of the request's end.
type outcome struct {
	requeueAfter   time.Duration
	clearOperation bool
	clearRefresh   bool
	drift          []Drift // objects found changed outside Git
	// err is a retryable failure: returned to the work queue, which
	// retries with a capped exponential backoff.
	err error
}

// run is one reconcile of one Application, passed through the phases.
type run struct {
	app     *v1alpha1.Application
	conds   *conditions
	out     outcome
	refresh string
	// began is when the reconcile started.
	began time.Time
	dst   *target
	// cctx bounds comparisons on a registered cluster; cancel releases it.
	cctx     context.Context
	cancel   context.CancelFunc
	revision string
	project  *v1alpha1.AppProject
	ig       *diff.Ignorer
	desired  *appstate.Desired // nil when the fast path compared
	cmp      *appstate.Comparison
}

// phase is one named step of a reconcile. An error stops the reconcile; a
// stalled one (appstate.StalledError) is reported and not retried until the
// Application or its revision changes, any other is retried with backoff.
type phase struct {
	name string
	run  func(ctx context.Context, r *run) error
}

// reconcile runs the phases and records everything in app.Status.
func (r *Reconciler) reconcile(ctx context.Context, app *v1alpha1.Application) outcome {
	// Git is read as the Application's project: a repository Secret scoped
	// to the project serves it, and no other project (see source.WithProject).
	ctx = gitsource.WithProject(ctx, project.NameOf(app))
	rn := &run{app: app, conds: newConditions(app), refresh: app.Annotations[refreshAnnotation], began: time.Now()}
	// Charts named in repository content (dependencies, kustomize's
	// helmCharts) come from repositories the project permits, as the
	// spec's sources do.
	ctx = appstate.WithPermittedRepositories(ctx, func(repoURL string) bool {
		return rn.project != nil && project.SourcePermitted(rn.project, repoURL)
	})
	rn.cctx = ctx
	rn.out = outcome{requeueAfter: r.opts.PollInterval, clearRefresh: rn.refresh != ""}
	defer rn.conds.apply(app)
	defer func() {
		if rn.cancel != nil {
			rn.cancel()
		}
	}()
	phases := []phase{
		{"spec", r.reconcileSpec},
		{"destination", r.reconcileDestination},
		{"source", r.reconcileSource},
		{"compare", r.reconcileCompare},
		{"operation", r.reconcileOperation},
	}
	for _, p := range phases {
		if err := p.run(ctx, rn); err != nil {
			r.failed(ctx, rn, p.name, err)
			break
		}
	}
	return rn.out
}

// failed reports a phase's error. Nothing is applied or pruned: the live
// state stays as it was.
func (r *Reconciler) failed(ctx context.Context, rn *run, phase string, err error) {
	app := rn.app
	app.Status.Sync.Status = v1alpha1.SyncStatusCodeUnknown
	reason, stalled := appstate.IsStalled(err)
	cond := v1alpha1.ApplicationConditionComparisonError
	if reason == appstate.ReasonInvalidSpec || reason == appstate.ReasonDestinationNotRegistered || reason == appstate.ReasonProjectRefused {
		cond = v1alpha1.ApplicationConditionInvalidSpecError
		rn.conds.clear(v1alpha1.ApplicationConditionComparisonError)
	}
	changed := rn.conds.set(cond, err.Error())
	if !stalled {
		r.events.Eventf(app, nil, eventWarning, string(cond), actionCompare, "%s", err.Error())
		rn.out.err = fmt.Errorf("%s of application %s: %w", phase, appstate.Key(app), err)
		return
	}
	ctrl.LoggerFrom(ctx).Info("stalled", "application", appstate.Key(app), "phase", phase, "reason", reason, "error", err.Error())
	if changed {
		r.events.Eventf(app, nil, eventWarning, string(reason), actionCompare, "%s", err.Error())
	}
	if app.Operation != nil {
		// An operation that cannot start ends now, as a failed sync, rather
		// than waiting for a fix that only a new commit or spec can bring.
		r.failOperation(rn, err)
	}
}

// reconcileSpec checks what can be checked without the cluster or Git.
func (r *Reconciler) reconcileSpec(ctx context.Context, rn *run) error {
	r.checkUnsupported(ctx, rn.app, rn.conds)
	if msg := validate(rn.app); msg != "" {
		return appstate.Stall(appstate.ReasonInvalidSpec, errors.New(msg))
	}
	p, err := r.projectOf(ctx, rn.app)
	if err != nil {
		return err
	}
	rn.project = p
	ig, err := appstate.Ignorer(rn.app)
	if err != nil {
		return err
	}
	rn.ig = ig
	return nil
}

// reconcileDestination resolves the destination cluster.
func (r *Reconciler) reconcileDestination(ctx context.Context, rn *run) error {
	dst, err := r.target(ctx, rn.app)
	if err != nil {
		return err
	}
	if err := checkDestination(rn.project, rn.app, dst); err != nil {
		return err
	}
	// The spec is valid and its destination known (a cluster registered
	// since, say): an earlier InvalidSpecError no longer holds.
	rn.conds.clear(v1alpha1.ApplicationConditionInvalidSpecError)
	rn.dst = dst
	if dst != r.local {
		// A registered cluster's comparison is bounded: a cluster that
		// stops answering mid-way must not hold the worker (a sync, which
		// may wait on waves, is bounded by its own wave timeout instead).
		rn.cctx, rn.cancel = context.WithTimeout(ctx, time.Minute)
	}
	return nil
}

// reconcileSource resolves the revisions the sources follow now.
func (r *Reconciler) reconcileSource(ctx context.Context, rn *run) error {
	var since time.Time // a refresh is answered from what Git and the cluster say after it was asked
	if rn.refresh != "" {
		since = r.tracker.refreshAsked(appKey(rn.app), rn.began)
	}
	if rn.refresh == "hard" {
		// Renders, chart archives and a discovery of the destination's
		// capabilities made after the refresh was asked for see what it
		// asks to see: a burst of hard refreshes (every Application of a
		// cluster) discovers once or twice, not once per Application, each
		// waiting for the one before, and the Applications not refreshed
		// keep their renders.
		rn.cctx = appstate.RenderedAfter(rn.cctx, since)
		rn.dst.forgetCapabilitiesBefore(since)
	}
	revision, err := r.resolveAll(ctx, rn.app, appstate.TargetRevisions(rn.app, nil), since)
	if err != nil {
		return err
	}
	rn.revision = revision
	return nil
}

// reconcileCompare compares Git with the cluster (or takes the remembered
// comparison when nothing changed) and reports it in status.
func (r *Reconciler) reconcileCompare(ctx context.Context, rn *run) error {
	app := rn.app
	inputs := r.inputsKey(ctx, app, rn.dst, rn.revision)
	fast := false
	if app.Operation == nil && rn.refresh == "" {
		rn.cmp, fast = r.fastCompare(rn.cctx, app, rn.dst, inputs, rn.revision)
	}
	if !fast {
		var err error
		if rn.desired, err = r.desiredState(rn.cctx, app, rn.dst, rn.revision); err != nil {
			return err
		}
		if app.Operation == nil && rn.refresh != "" && r.tracker.renderedAs(appstate.Key(app), rn.desired.Hash()) {
			// A refresh read Git again and rendered again (a hard one
			// without any cache). When that render is the very one the
			// last comparison compared and no live object changed since
			// (the watch cache's fingerprints), that comparison stands, as
			// on any poll: a dry-run of the same objects against the same
			// live objects tells nothing new.
			rn.cmp, fast = r.fastCompare(rn.cctx, app, rn.dst, inputs, rn.revision)
		}
		if !fast {
			if rn.cmp, err = r.compare(rn.cctx, app, rn.dst, rn.desired, inputs, rn.ig); err != nil {
				return err
			}
		}
		now := metav1.Now()
		app.Status.ReconciledAt = &now
		setSourceTypes(app, rn.desired, rn.conds)
	}
	rn.conds.clear(v1alpha1.ApplicationConditionComparisonError)
	prevStatus, prevRevision := r.tracker.previousSync(appKey(app), app.Status.Sync)
	setCompared(app, rn.revision, rn.cmp, rn.conds)
	if prevStatus == v1alpha1.SyncStatusCodeSynced && prevRevision == rn.revision && app.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync {
		// Git did not move, the cluster did: someone changed a managed object.
		r.events.Eventf(app, nil, eventWarning, reasonDriftDetected, actionCompare, "live state differs from Git at %s: %s",
			appstate.Short(rn.revision), strings.Join(keyStrings(rn.cmp.OutOfSync()), ", "))
		r.opts.Metrics.Drifted(app.Namespace, app.Name)
		if r.opts.Notifier != nil {
			rn.out.drift = r.driftOf(ctx, rn.dst, rn.cmp) // who changed what, for on-drift-detected
		}
	}
	r.reportOrphans(ctx, rn)
	return nil
}

// reconcileOperation decides whether to sync, and syncs.
//
// With Options.SelfHealDelay, a self-heal waits until its drift has been
// seen for that long: the tracker remembers when this process first saw it
// (the first decision SkipSelfHealDelay), the reconcile comes back when the
// wait ends (as for a retry's backoff), and the time is forgotten once the
// Application is in sync again or a sync runs, so drift that comes back
// after a self-heal waits again, and drift in bursts is healed once.
func (r *Reconciler) reconcileOperation(ctx context.Context, rn *run) error {
	app, key := rn.app, appKey(rn.app)
	now := time.Now()
	d := appstate.Decide(appstate.DecisionInput{App: app, Comparison: rn.cmp, LastSync: r.lastSync(app), Now: now,
		SelfHealDelay: r.opts.SelfHealDelay, DriftSince: r.tracker.driftSince(key)})
	if d.Action != appstate.ActionSync {
		rn.conds.clear(v1alpha1.ApplicationConditionSyncWindowBlocked)
	}
	switch {
	case d.Reason == appstate.SkipSelfHealDelay:
		if r.tracker.seeDrift(key, now) {
			ctrl.LoggerFrom(ctx).Info("self-heal delayed", "application", appstate.Key(app), "until", d.RetryAt,
				"outOfSync", keyStrings(rn.cmp.OutOfSync()))
		}
	case d.Action != appstate.ActionSync:
		// In sync again, or nothing to heal: a later drift waits anew. (A
		// sync forgets it when it runs, below; one a sync window holds
		// keeps it.)
		r.tracker.forgetDrift(key)
	}
	switch d.Action {
	case appstate.ActionFinishTerminated:
		// A terminate request no running sync took up (the controller
		// restarted meanwhile): the operation ends here.
		st := app.Status.OperationState
		if st == nil {
			st = &v1alpha1.OperationState{}
			app.Status.OperationState = st
		}
		now := metav1.Now()
		st.Phase, st.Message, st.FinishedAt = v1alpha1.OperationFailed, appstate.MessageTerminated, &now
		rn.out.clearOperation = app.Operation != nil
		return nil
	case appstate.ActionNone:
		if !d.RetryAt.IsZero() {
			if wait := time.Until(d.RetryAt); wait > 0 && wait < rn.out.requeueAfter {
				rn.out.requeueAfter = wait
			}
		}
		return nil
	}
	if blocked, err := r.windowBlocks(rn, d.Sync, now); blocked || err != nil {
		return err
	}
	r.tracker.forgetDrift(key)
	ctrl.LoggerFrom(ctx).Info("syncing", "application", appstate.Key(app), "revision", appstate.Short(d.Sync.Revision),
		"automated", d.Sync.Automated, "outOfSync", keyStrings(rn.cmp.OutOfSync()))
	res := r.sync(ctx, rn, d.Sync)
	rn.out.clearOperation = res.done && app.Operation != nil
	rn.out.requeueAfter = res.requeueAfter
	return nil
}

// windowBlocks holds back a sync the project's sync windows do not allow
// now: the condition says which window and until when, the reconcile comes
// back then, and a requested operation stays pending until it may run.
func (r *Reconciler) windowBlocks(rn *run, req *appstate.SyncRequest, now time.Time) (bool, error) {
	w, err := syncWindow(rn.project, rn.app, req.Automated, now)
	if err != nil {
		return true, err
	}
	if w.Allowed {
		rn.conds.clear(v1alpha1.ApplicationConditionSyncWindowBlocked)
		return false, nil
	}
	if rn.conds.set(v1alpha1.ApplicationConditionSyncWindowBlocked, w.Message) {
		r.events.Eventf(rn.app, nil, eventNormal, string(appstate.ReasonSyncWindow), actionSync, "%s", w.Message)
	}
	if !w.Until.IsZero() {
		if wait := w.Until.Sub(now) + time.Second; wait < rn.out.requeueAfter {
			rn.out.requeueAfter = wait
		}
	}
	return true, nil
}

func keyStrings(keys []fsync.Key) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.String()
	}
	return out
}

// driftOf names the objects a drift changed and, from their managedFields
// (read from the API server: the watch cache strips them), the field
// manager that wrote last, other than Ferry: kubectl-edit, kubectl-scale,
// an operator...
func (r *Reconciler) driftOf(ctx context.Context, dst *target, cmp *appstate.Comparison) []Drift {
	var out []Drift
	for _, s := range cmp.Resources {
		if !s.Desired || s.Sync != v1alpha1.SyncStatusCodeOutOfSync || s.Live == nil {
			continue
		}
		d := Drift{Key: s.Key}
		if live, err := dst.Confirmed(ctx, s.Key, s.APIVersion); err == nil && live != nil {
			d.Manager, d.ResourceVersion = lastManager(live), live.GetResourceVersion()
		}
		out = append(out, d)
	}
	return out
}

// lastManager is the field manager with the newest entry that is not
// Ferry's and not a status write: Git holds no status, so the controllers
// that keep it (kube-controller-manager after every rollout) never made the
// drift, while `kubectl scale` and `kubectl edit` did. An entry without a
// time ranks newest: the API server records none for writes through the
// scale subresource (seen on Kubernetes 1.37), and a scale by hand is the
// commonest drift. (An autoscaler writes there too; its Applications
// ignore replicas, as Argo CD's users do, or drift would never end.)
func lastManager(u *unstructured.Unstructured) string {
	var name string
	var newest time.Time
	timeless := false
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == fsync.FieldManager || mf.Subresource == "status" {
			continue
		}
		switch {
		case mf.Time == nil:
			name, timeless = mf.Manager, true
		case timeless:
		case name == "" || !mf.Time.Time.Before(newest):
			name, newest = mf.Manager, mf.Time.Time
		}
	}
	return name
}
