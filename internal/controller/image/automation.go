package image

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/image/automation"
	"github.com/ferrycd/ferry/internal/image/gitupdate"
	"github.com/ferrycd/ferry/internal/image/requestedat"
	"github.com/ferrycd/ferry/internal/metrics"
)

// AutomationReconciler runs ImageUpdateAutomations.
type AutomationReconciler struct {
	client client.Client
	reader client.Reader // the cache, but Secrets from the API server
	// notify is told of every push, so Applications tracking the repository
	// refresh at once instead of at their next poll.
	notify   func(ctx context.Context, repoURL string)
	metrics  *metrics.Metrics
	boundary automation.Boundary
}

// Reconcile runs one automation when its interval passed, it changed, a
// policy of its namespace picked a new image, or a run was requested.
func (r *AutomationReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	a := &imagev1.ImageUpdateAutomation{}
	if err := r.client.Get(ctx, req.NamespacedName, a); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if a.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	interval := max(a.Spec.Interval.Duration, 10*time.Second)
	before := a.DeepCopy()
	opts, err := automation.RunOptions(ctx, r.reader, a, r.boundary)
	var res gitupdate.Result
	if err == nil {
		res, err = gitupdate.Run(ctx, opts)
	}
	now := metav1.Now()
	a.Status.LastAutomationRunTime = &now
	a.Status.ObservedGeneration = a.Generation
	if v, asked := requestedat.Pending(a.Annotations, a.Status.LastHandledReconcileAt); asked {
		a.Status.LastHandledReconcileAt = v
	}
	switch {
	case err != nil:
		setReady(&a.Status.Conditions, a.Generation, metav1.ConditionFalse, "UpdateFailed", err.Error())
	case res.Commit != "":
		r.metrics.Pushed(a.Namespace, a.Name)
		a.Status.LastPushCommit, a.Status.LastPushTime = res.Commit, &now
		setReady(&a.Status.Conditions, a.Generation, metav1.ConditionTrue, "Succeeded",
			fmt.Sprintf("pushed commit '%.7s' to branch '%s'", res.Commit, res.Branch))
	default:
		setReady(&a.Status.Conditions, a.Generation, metav1.ConditionTrue, "Succeeded", "no updates made")
	}
	if perr := r.client.Status().Patch(ctx, a, client.MergeFrom(before)); perr != nil {
		return ctrl.Result{}, fmt.Errorf("update status of ImageUpdateAutomation %s: %w", req.NamespacedName, perr)
	}
	if res.Commit != "" && r.notify != nil {
		r.notify(ctx, opts.URL)
	}
	if err != nil {
		return ctrl.Result{RequeueAfter: min(interval, 30*time.Second)}, nil
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

// setupAutomations registers the ImageUpdateAutomation controller: an
// automation runs when it changes and when a policy in its namespace picks
// a new image.
func setupAutomations(mgr ctrl.Manager, notify func(context.Context, string), m *metrics.Metrics, boundary automation.Boundary) error {
	r := &AutomationReconciler{client: mgr.GetClient(), reader: secretsUncached{mgr.GetClient(), mgr.GetAPIReader()}, notify: notify, metrics: m, boundary: boundary}
	return ctrl.NewControllerManagedBy(mgr).Named("imageupdateautomation").
		For(&imagev1.ImageUpdateAutomation{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&imagev1.ImagePolicy{}, handler.EnqueueRequestsFromMapFunc(r.automationsOf), builder.WithPredicates(latestChanged())).
		Complete(r)
}

// automationsOf lists the automations of a policy's namespace.
func (r *AutomationReconciler) automationsOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &imagev1.ImageUpdateAutomationList{}
	if err := r.client.List(ctx, list, client.InNamespace(o.GetNamespace())); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// latestChanged passes policy updates that changed the picked image.
func latestChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		oldP, ok1 := e.ObjectOld.(*imagev1.ImagePolicy)
		newP, ok2 := e.ObjectNew.(*imagev1.ImagePolicy)
		return ok1 && ok2 && oldP.Status.LatestImage != newP.Status.LatestImage
	}}
}
