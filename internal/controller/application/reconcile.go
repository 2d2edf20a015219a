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
	"github.com/ferrycd/ferry/internal/diff"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Annotations Ferry reads on Applications, as Argo CD does.
const (
	// refreshAnnotation asks for an immediate refresh: "normal" lists the
	// repository's refs now; "hard" also drops cached renders. Ferry removes
	// it once done.
	refreshAnnotation = "argocd.argoproj.io/refresh"
)

// outcome is what the reconcile asks of the request's end.
type outcome struct {
	requeueAfter   time.Duration
	clearOperation bool
	clearRefresh   bool
	drift          []Drift // objects found changed outside Git
}

// reconcile runs the phases and records everything in app.Status.
func (r *Reconciler) reconcile(ctx context.Context, app *v1alpha1.Application) outcome {
	log := ctrl.LoggerFrom(ctx)
	out := outcome{requeueAfter: r.opts.PollInterval}
	refresh := app.Annotations[refreshAnnotation]
	out.clearRefresh = refresh != ""
	conds := newConditions(app)
	defer conds.apply(app)

	r.checkUnsupported(ctx, app, conds)
	if msg := r.validate(ctx, app); msg != "" {
		conds.set(v1alpha1.ApplicationConditionInvalidSpecError, msg)
		app.Status.Sync.Status = v1alpha1.SyncStatusCodeUnknown
		out.clearOperation = app.Operation != nil
		return out
	}
	dst, err := r.target(ctx, app)
	if err != nil {
		var de *destinationError
		if errors.As(err, &de) && !de.registered {
			conds.set(v1alpha1.ApplicationConditionInvalidSpecError, err.Error())
			conds.clear(v1alpha1.ApplicationConditionComparisonError)
			app.Status.Sync.Status = v1alpha1.SyncStatusCodeUnknown
			out.clearOperation = app.Operation != nil
			return out
		}
		return r.comparisonFailed(app, conds, err)
	}
	// The spec is valid and its destination known (a cluster registered
	// since, say): an earlier InvalidSpecError no longer holds.
	conds.clear(v1alpha1.ApplicationConditionInvalidSpecError)
	// A registered cluster's comparison is bounded: a cluster that stops
	// answering mid-way must not hold the worker (a sync, which may wait on
	// waves, is bounded by its own wave timeout instead).
	cctx := ctx
	if dst != r.local {
		var cancel context.CancelFunc
		cctx, cancel = context.WithTimeout(ctx, time.Minute)
		defer cancel()
	}
	src := *app.Spec.Source
	if refresh == "hard" {
		r.renders.clear()
	}
	revision, err := r.sources.Resolve(ctx, src.RepoURL, src.TargetRevision, refresh != "")
	if err != nil {
		return r.comparisonFailed(app, conds, fmt.Errorf("resolve %s at %q: %w", src.RepoURL, src.TargetRevision, err))
	}
	ig, err := Ignorer(app)
	if err != nil {
		conds.set(v1alpha1.ApplicationConditionInvalidSpecError, err.Error())
		return out
	}
	inputs := inputsKey(app, src, revision)
	var d *desiredState
	states, fast := []resourceState(nil), false
	if app.Operation == nil && refresh == "" {
		states, fast = r.fastCompare(cctx, app, dst, inputs)
	}
	if !fast {
		if d, err = r.renderDesired(cctx, app, dst, src, revision); err != nil {
			return r.comparisonFailed(app, conds, err)
		}
		if states, err = r.compare(cctx, app, dst, d, inputs, ig); err != nil {
			return r.comparisonFailed(app, conds, err)
		}
		now := metav1.Now()
		app.Status.ReconciledAt = &now
		app.Status.SourceType = v1alpha1.ApplicationSourceType(d.sourceType)
	}
	conds.clear(v1alpha1.ApplicationConditionComparisonError)
	previous := app.Status.Sync
	setCompared(app, src, revision, states, conds)
	if previous.Status == v1alpha1.SyncStatusCodeSynced && previous.Revision == revision && app.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync {
		// Git did not move, the cluster did: someone changed a managed object.
		r.events.Eventf(app, nil, "Warning", "DriftDetected", "Compare", "live state differs from Git at %s: %s",
			short(revision), strings.Join(outOfSyncKeys(states), ", "))
		r.opts.Metrics.Drifted(app.Namespace, app.Name)
		if r.opts.Notifier != nil {
			out.drift = r.driftOf(ctx, dst, states) // who changed what, for on-drift-detected
		}
	}

	if st := app.Status.OperationState; app.Operation != nil && st != nil && st.Phase == v1alpha1.OperationTerminating {
		// A terminate request no running sync took up (the controller
		// restarted meanwhile): the operation ends here.
		now := metav1.Now()
		st.Phase, st.Message, st.FinishedAt = v1alpha1.OperationFailed, "terminated by request", &now
		out.clearOperation = true
		return out
	}
	trigger, wait := r.syncTrigger(app, revision, states)
	if wait > 0 && wait < out.requeueAfter {
		out.requeueAfter = wait
	}
	if trigger == nil {
		return out
	}
	log.Info("syncing", "application", appKey(app), "revision", trigger.revision, "automated", trigger.automated, "outOfSync", outOfSyncKeys(states))
	res := r.sync(ctx, app, dst, d, states, ig, trigger, conds)
	out.clearOperation = res.done && app.Operation != nil
	out.requeueAfter = res.requeueAfter
	return out
}

// comparisonFailed reports an error that prevented comparing: nothing is
// applied or pruned, the live state stays as it was, and the Application is
// compared again in 10 s (sooner when it or its source changes).
func (r *Reconciler) comparisonFailed(app *v1alpha1.Application, conds *conditions, err error) outcome {
	conds.set(v1alpha1.ApplicationConditionComparisonError, err.Error())
	app.Status.Sync.Status = v1alpha1.SyncStatusCodeUnknown
	r.events.Eventf(app, nil, "Warning", "ComparisonError", "Compare", "%s", err.Error())
	return outcome{requeueAfter: 10 * time.Second, clearRefresh: true}
}

// Ignorer compiles the Application's ignoreDifferences.
func Ignorer(app *v1alpha1.Application) (*diff.Ignorer, error) {
	rules := make([]diff.IgnoreRule, len(app.Spec.IgnoreDifferences))
	for i, d := range app.Spec.IgnoreDifferences {
		rules[i] = diff.IgnoreRule{Group: d.Group, Kind: d.Kind, Name: d.Name, Namespace: d.Namespace,
			JSONPointers: d.JSONPointers, JQPathExpressions: d.JQPathExpressions, ManagedFieldsManagers: d.ManagedFieldsManagers}
	}
	return diff.CompileIgnoreRules(rules)
}

func outOfSyncKeys(states []resourceState) []string {
	var keys []string
	for _, s := range states {
		if s.sync != v1alpha1.SyncStatusCodeSynced || s.requiresP {
			keys = append(keys, s.key.String())
		}
	}
	return keys
}

// driftOf names the objects a drift changed and, from their managedFields
// (read from the API server: the watch cache strips them), the field
// manager that wrote last, other than Ferry: kubectl-edit, kubectl-scale,
// an operator...
func (r *Reconciler) driftOf(ctx context.Context, dst *target, states []resourceState) []Drift {
	var out []Drift
	for _, s := range states {
		if !s.desired || s.sync != v1alpha1.SyncStatusCodeOutOfSync || s.live == nil {
			continue
		}
		d := Drift{Key: s.key}
		if live, err := dst.confirmed(ctx, s.key, s.version); err == nil && live != nil {
			d.Manager, d.ResourceVersion = lastManager(live), live.GetResourceVersion()
		}
		out = append(out, d)
	}
	return out
}

// lastManager is the field manager with the newest entry that is not
// Ferry's.
func lastManager(u *unstructured.Unstructured) string {
	var name string
	var newest time.Time
	for _, mf := range u.GetManagedFields() {
		if mf.Manager == fsync.FieldManager || mf.Time == nil {
			continue
		}
		if t := mf.Time.Time; name == "" || t.After(newest) || t.Equal(newest) {
			name, newest = mf.Manager, t
		}
	}
	return name
}
