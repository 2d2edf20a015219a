package application

import (
	"context"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Deletion confirmation: Argo CD's Prune=confirm and Delete=confirm. The
// planners decide (sync.MakePlan holds unapproved prunes in Plan.Held,
// sync.PlanDeletion holds unapproved deletions); this file gives them the
// request and approval times and records what waits in the
// DeletionConfirmationPending condition. Where each request time lives is
// told in internal/appstate/confirm.go.

const (
	conditionConfirmation = v1alpha1.ApplicationConditionDeletionConfirmationPending
	actionDelete          = "Delete"
)

// liveInfoOf is what the planners need of a live object: its owner, wave
// and sync options.
func liveInfoOf(u *unstructured.Unstructured) fsync.LiveInfo {
	owner, _ := fsync.Owner(u)
	opts := u.GetAnnotations()[fsync.SyncOptionsAnnotation]
	wave, _ := fsync.SyncWave(u) // a live object's bad wave prunes it in wave 0
	return fsync.LiveInfo{Owner: owner, Wave: wave,
		PruneDisabled:   appstate.HasSyncOption(opts, "Prune=false"),
		PruneLast:       appstate.HasSyncOption(opts, "PruneLast=true"),
		PruneConfirm:    appstate.HasSyncOption(opts, "Prune=confirm"),
		DeleteDisabled:  appstate.HasSyncOption(opts, "Delete=false"),
		DeleteConfirm:   appstate.HasSyncOption(opts, "Delete=confirm"),
		ResourceVersion: u.GetResourceVersion()}
}

// pruneConfirmation reads what approves a sync's prunes of objects marked
// Prune=confirm: the request the DeletionConfirmationPending condition
// records (returned too) and the approval annotation. It reads them from the
// API server: the watch cache may not show yet the condition the last sync
// of this process wrote, and reading it from there would ask again, moving
// the request past an approval given meanwhile. A failed read falls back to
// the cached copy, which at worst asks again.
func (r *Reconciler) pruneConfirmation(ctx context.Context, app *v1alpha1.Application) (fsync.Confirmation, *v1alpha1.ApplicationCondition) {
	src := app
	fresh := &v1alpha1.Application{}
	if err := r.direct.Get(ctx, appKey(app), fresh); err == nil {
		src = fresh
	}
	return appstate.ConfirmationOf(src), appstate.PendingConfirmation(src)
}

// asksConfirmation reports whether a live object a sync may prune is
// marked Prune=confirm.
func asksConfirmation(live map[fsync.Key]fsync.LiveInfo) bool {
	for _, l := range live {
		if l.PruneConfirm {
			return true
		}
	}
	return false
}

// recordHeld records a sync's held prunes in the DeletionConfirmationPending
// condition, which is their request: it names every object waiting, and its
// lastTransitionTime is when they were first asked about. Objects already
// asked about keep that time, so an approval given since still counts; an
// object asked about for the first time moves it to now, so that an
// approval given before the user could see it does not approve it. A
// selective sync (only) keeps the objects it did not plan. No object held:
// the condition goes.
func (r *Reconciler) recordHeld(rn *run, held, only []fsync.Key, asked *v1alpha1.ApplicationCondition) {
	var before []fsync.Key
	if asked != nil {
		before = appstate.ConfirmationKeys(asked.Message)
	}
	waiting := slices.Clone(held)
	for _, k := range before {
		if len(only) > 0 && !slices.Contains(only, k) && !slices.Contains(waiting, k) {
			waiting = append(waiting, k)
		}
	}
	if len(waiting) == 0 {
		rn.conds.clear(conditionConfirmation)
		return
	}
	slices.SortFunc(waiting, fsync.CompareKeys)
	msg := appstate.ConfirmationMessage(rn.app, waiting, false)
	rn.conds.set(conditionConfirmation, msg)
	cond := rn.conds.byType[conditionConfirmation]
	askedBefore := asked != nil && asked.LastTransitionTime != nil &&
		!slices.ContainsFunc(waiting, func(k fsync.Key) bool { return !slices.Contains(before, k) })
	if askedBefore {
		cond.LastTransitionTime = asked.LastTransitionTime.DeepCopy()
	} else {
		now := metav1.Now()
		cond.LastTransitionTime = &now
		r.events.Eventf(rn.app, nil, eventWarning, string(conditionConfirmation), actionSync, "%s", msg)
	}
	rn.conds.byType[conditionConfirmation] = cond
}

// heldOutcomes reports held prunes in the sync result: left in place,
// waiting for confirmation.
func heldOutcomes(app *v1alpha1.Application, held []fsync.Key) []fsync.Outcome {
	out := make([]fsync.Outcome, 0, len(held))
	for _, k := range held {
		out = append(out, fsync.Outcome{Key: k, Action: fsync.PruneSkipped,
			Message: "waiting for deletion confirmation (Prune=confirm): ferry app confirm-deletion " + app.Name + " -n " + app.Namespace})
	}
	return out
}

// awaitDeletion keeps a deleted Application whose cascading deletion
// holds objects marked Delete=confirm or Prune=confirm: the condition names
// them, and the approval annotation, which wakes the controller, lets them
// go. The poll interval brings it back too, should that wake-up be missed.
func (r *Reconciler) awaitDeletion(ctx context.Context, app *v1alpha1.Application, held []fsync.Key) (ctrl.Result, error) {
	before := app.DeepCopy()
	conds := newConditions(app)
	msg := appstate.ConfirmationMessage(app, held, true)
	if conds.set(conditionConfirmation, msg) {
		conds.apply(app)
		if err := r.direct.Status().Patch(ctx, app, client.MergeFrom(before)); err != nil && !apierrors.IsNotFound(err) {
			return ctrl.Result{}, err
		}
		r.events.Eventf(app, nil, eventWarning, string(conditionConfirmation), actionDelete, "%s", msg)
	}
	ctrl.LoggerFrom(ctx).Info("deletion waits for confirmation", "application", appKey(app), "objects", keyStrings(held))
	return ctrl.Result{RequeueAfter: r.opts.PollInterval}, nil
}
