package application

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/project"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// resourcesFinalizer asks for cascading deletion: when an Application that
// carries it is deleted, the objects it manages are deleted first, as in
// Argo CD. Without it, deleting an Application leaves its objects running.
const resourcesFinalizer = "resources-finalizer.argocd.argoproj.io"

// finalize deletes the managed objects of a deleted Application that asked
// for it, then releases the Application. Objects whose deletion waits for
// confirmation keep it until approved (awaitDeletion).
func (r *Reconciler) finalize(ctx context.Context, app *v1alpha1.Application) (ctrl.Result, error) {
	r.tracker.forget(appKey(app))
	if !slices.Contains(app.Finalizers, resourcesFinalizer) {
		return ctrl.Result{}, nil
	}
	instance := r.instance(app)
	dst, err := r.target(ctx, app)
	if err != nil {
		if reason, _ := appstate.IsStalled(err); reason != appstate.ReasonDestinationNotRegistered {
			return ctrl.Result{}, fmt.Errorf("delete resources of application %s: %w", appKey(app), err) // retried
		}
		// The cluster is no longer registered: nothing can be deleted there.
		ctrl.LoggerFrom(ctx).Info("resources left: destination not registered", "application", appKey(app), "error", err.Error())
		return r.releaseFinalizer(ctx, app)
	}
	// Deleting is pruning: an object the project would not let the
	// Application create is not deleted either (left in place, told in an
	// event). A project that cannot be read deletes nothing, until it is
	// back or the finalizer is removed by hand.
	p := &v1alpha1.AppProject{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: r.opts.HomeNamespace, Name: project.NameOf(app)}, p); err != nil {
		return ctrl.Result{}, fmt.Errorf("delete resources of application %s: read AppProject %s: %w", appKey(app), project.NameOf(app), err)
	}
	// The inventory's live objects, read from the API server; the planner
	// decides which go (sync.PlanDeletion): not another's, not Delete=false,
	// not what the project denies, and what asks for confirmation
	// (Delete=confirm, Prune=confirm) only once the approval is newer than
	// the deletion, as in Argo CD.
	var errs []error
	live := make(map[fsync.Key]fsync.LiveInfo, len(app.Status.Resources))
	objs := make(map[fsync.Key]*unstructured.Unstructured, len(app.Status.Resources))
	for _, res := range app.Status.Resources {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(schema.GroupVersionKind{Group: res.Group, Version: res.Version, Kind: res.Kind})
		if err := dst.direct.Get(ctx, client.ObjectKey{Namespace: res.Namespace, Name: res.Name}, u); err != nil {
			if !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
			continue
		}
		k := fsync.KeyOf(u)
		live[k], objs[k] = liveInfoOf(u), u
	}
	plan := fsync.PlanDeletion(fsync.DeletionInput{App: instance, Live: live, MayDelete: prunePermit(p, dst),
		ApprovedAt: appstate.DeletionApprovedAt(app), RequestedAt: app.DeletionTimestamp.Time})
	for _, k := range plan.Delete {
		if err := dst.direct.Delete(ctx, objs[k], client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, fmt.Errorf("delete resources of application %s: %w", appKey(app), err)
	}
	if len(plan.Denied) > 0 {
		kept := make([]string, len(plan.Denied))
		for i, d := range plan.Denied {
			kept[i] = d.Key.String() + ": " + d.Reason
		}
		r.events.Eventf(app, nil, eventWarning, string(appstate.ReasonProjectRefused), actionSync, "left in place: %s", strings.Join(kept, "; "))
	}
	if len(plan.Held) > 0 {
		return r.awaitDeletion(ctx, app, plan.Held)
	}
	return r.releaseFinalizer(ctx, app)
}

// releaseFinalizer removes the resources finalizer, letting the
// Application go.
func (r *Reconciler) releaseFinalizer(ctx context.Context, app *v1alpha1.Application) (ctrl.Result, error) {
	patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
	app.Finalizers = slices.DeleteFunc(app.Finalizers, func(f string) bool { return f == resourcesFinalizer })
	if err := r.direct.Patch(ctx, app, patch); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("remove finalizer of application %s: %w", appKey(app), err)
	}
	return ctrl.Result{}, nil
}

// finishRequest removes a finished operation and a handled refresh
// annotation from the Application (not its status), so a new one can be
// asked for; optimistic locking keeps a newer request from being dropped.
func (r *Reconciler) finishRequest(ctx context.Context, app *v1alpha1.Application, out outcome) error {
	if !out.clearOperation && !out.clearRefresh {
		return nil
	}
	patched := app.DeepCopy()
	patch := client.MergeFromWithOptions(app, client.MergeFromWithOptimisticLock{})
	if out.clearOperation {
		patched.Operation = nil
	}
	if out.clearRefresh {
		delete(patched.Annotations, refreshAnnotation)
	}
	if err := r.direct.Patch(ctx, patched, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("clear operation of application %s: %w", appKey(app), err)
	}
	return nil
}
