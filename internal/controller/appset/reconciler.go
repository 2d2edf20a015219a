// Package appset reconciles ApplicationSets: it runs the generators
// (internal/appset) over the cluster registry and Git, renders one
// Application per parameter set, and creates, updates and deletes the
// Applications it owns, as Argo CD's ApplicationSet controller does.
package appset

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appset"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/project"
	gitsource "github.com/ferrycd/ferry/internal/source"
)

// gitRequeue is how often an ApplicationSet with git generators runs again
// (Argo CD's default requeueAfterSeconds, 3m).
const gitRequeue = 3 * time.Minute

// Reconciler reconciles ApplicationSets.
type Reconciler struct {
	client   client.Client    // cached reads and writes
	clusters cluster.Registry // the home namespace's cluster Secrets
	sources  *gitsource.Cache
	pushed   chan event.GenericEvent // ApplicationSets a webhook push concerns
	// The namespaces whose ApplicationSets are served: home, and those
	// matching the controller's --application-namespaces. Elsewhere an
	// ApplicationSet could read Git and clusters with the home namespace's
	// credentials on behalf of whoever can create one there.
	home       string
	namespaces []string
}

// Setup registers the controller: an ApplicationSet is reconciled when it
// changes, when an Application it owns changes, when a cluster Secret of
// the home namespace changes (the clusters generator's input), and when a
// webhook announces a push to a repository its git generators read
// (RepositoryPushed).
func Setup(mgr ctrl.Manager, homeCache cache.Cache, home string, namespaces []string, sources *gitsource.Cache) (*Reconciler, error) {
	r := &Reconciler{client: mgr.GetClient(), clusters: cluster.Registry{Reader: homeCache, Namespace: home, Options: cluster.Options{AllowExec: true}}, sources: sources,
		pushed: make(chan event.GenericEvent, 256), home: home, namespaces: namespaces}
	clusterSecrets := source.Kind(homeCache, client.Object(&corev1.Secret{}),
		handler.EnqueueRequestsFromMapFunc(r.allAppSets), predicate.NewPredicateFuncs(isClusterSecret))
	return r, ctrl.NewControllerManagedBy(mgr).Named("applicationset").
		For(&v1alpha1.ApplicationSet{}, builder.WithPredicates(predicate.Or[client.Object](
			predicate.GenerationChangedPredicate{}, refreshAsked))).
		Owns(&v1alpha1.Application{}).
		WatchesRawSource(clusterSecrets).
		WatchesRawSource(source.Channel(r.pushed, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// RefreshAnnotation asks for an ApplicationSet to be generated now, its
// git generators' repositories listed again first (Argo CD's); the
// controller removes it once done. A webhook received by a replica that
// does not lead sets it, for the leader.
const RefreshAnnotation = "argocd.argoproj.io/application-set-refresh"

// RepositoryPushed reconciles now every ApplicationSet whose git generators
// read one of urls (a webhook push), listing the repository's refs again
// first; it returns how many. Not leading (leading false), the replica
// marks them with RefreshAnnotation for the leader instead.
func (r *Reconciler) RepositoryPushed(ctx context.Context, urls []string, leading bool) int {
	want := map[string]bool{}
	for _, u := range urls {
		if n, err := gitsource.NormalizeURL(u); err == nil {
			want[n] = true
		}
	}
	list := &v1alpha1.ApplicationSetList{}
	if len(want) == 0 || r.client.List(ctx, list) != nil {
		return 0
	}
	n := 0
	for i := range list.Items {
		as := &list.Items[i]
		repo, ok := pushedRepo(as, want)
		if !ok {
			continue
		}
		if !leading {
			patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+RefreshAnnotation+`":"true"}}}`))
			if err := r.client.Patch(ctx, as, patch); err == nil {
				n++
			}
			continue
		}
		_, _ = r.sources.Resolve(ctx, repo, "HEAD", true)
		select {
		case r.pushed <- event.GenericEvent{Object: as}:
			n++
		case <-ctx.Done():
			return n
		}
	}
	return n
}

// refreshRequested says whether an ApplicationSet carries RefreshAnnotation.
func refreshRequested(o client.Object) bool { return o.GetAnnotations()[RefreshAnnotation] == "true" }

// refreshAsked passes an ApplicationSet when RefreshAnnotation appears on
// it (not at each of its status writes while it is there).
var refreshAsked = predicate.Funcs{
	CreateFunc:  func(e event.CreateEvent) bool { return refreshRequested(e.Object) },
	UpdateFunc:  func(e event.UpdateEvent) bool { return refreshRequested(e.ObjectNew) && !refreshRequested(e.ObjectOld) },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(e event.GenericEvent) bool { return refreshRequested(e.Object) },
}

// refreshed lists the ApplicationSet's git repositories again, when it
// asks for a refresh; done removes the request.
func (r *Reconciler) refreshed(ctx context.Context, as *v1alpha1.ApplicationSet) (done func() error) {
	if !refreshRequested(as) {
		return func() error { return nil }
	}
	if gens, err := appset.Generators(as); err == nil {
		for _, u := range appset.GitRepoURLs(gens) {
			_, _ = r.sources.Resolve(ctx, u, "HEAD", true)
		}
	}
	return func() error {
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+RefreshAnnotation+`":null}}}`))
		if err := r.client.Patch(ctx, as, patch); err != nil {
			return fmt.Errorf("remove %s from ApplicationSet %s: %w", RefreshAnnotation, client.ObjectKeyFromObject(as), client.IgnoreNotFound(err))
		}
		return nil
	}
}

// pushedRepo returns the repoURL, as written, of one of the ApplicationSet's
// git generators (at any depth) that reads a repository of want
// (normalized URLs).
func pushedRepo(as *v1alpha1.ApplicationSet, want map[string]bool) (string, bool) {
	gens, err := appset.Generators(as)
	if err != nil {
		return "", false
	}
	for _, u := range appset.GitRepoURLs(gens) {
		if n, err := gitsource.NormalizeURL(u); err == nil && want[n] {
			return u, true
		}
	}
	return "", false
}

func isClusterSecret(o client.Object) bool {
	return o.GetLabels()[cluster.SecretTypeLabel] == "cluster"
}

func (r *Reconciler) allAppSets(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &v1alpha1.ApplicationSetList{}
	if err := r.client.List(ctx, list); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&list.Items[i])})
	}
	return out
}

// Reconcile generates the ApplicationSet's Applications and brings the
// owned ones in line. A generator or template error is reported in status
// and changes nothing: no Application is deleted because a generator failed.
//
// Errors are reported by kind (see reconcileError): a stalled ApplicationSet
// (a bad spec, a bad cluster Secret) is not retried until it or an input it
// watches changes; anything else is returned, for the workqueue to retry
// with its capped exponential backoff.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	as := &v1alpha1.ApplicationSet{}
	if err := r.client.Get(ctx, req.NamespacedName, as); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !as.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned Applications go through garbage collection
	}
	if !project.NamespaceServed(as.Namespace, r.home, r.namespaces) {
		// Not this controller's: generate nothing, touch nothing. The
		// Applications it would generate would be ignored too.
		return ctrl.Result{}, nil
	}
	refreshDone := r.refreshed(ctx, as)
	before := as.DeepCopy()
	desired, err := r.generate(ctx, as)
	generated := err == nil
	if generated {
		err = r.apply(ctx, as, desired)
	}
	r.setStatus(ctx, as, desired, generated, err)
	if !equality.Semantic.DeepEqual(before.Status, as.Status) {
		if perr := r.client.Status().Patch(ctx, as, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, fmt.Errorf("update status of ApplicationSet %s: %w", req.NamespacedName, perr)
		}
	}
	if rerr := refreshDone(); rerr != nil && err == nil {
		return ctrl.Result{}, rerr
	}
	return result(ctx, err, usesGit(as))
}

// usesGit reports whether the ApplicationSet has git generators, at any
// depth: they are polled (Argo CD's requeueAfterSeconds), since a push is
// not always announced.
func usesGit(as *v1alpha1.ApplicationSet) bool {
	gens, err := appset.Generators(as)
	return err == nil && len(appset.GitRepoURLs(gens)) > 0
}

// generate runs the generators over the cluster registry and Git and
// renders the Applications; its errors are typed by generationError.
func (r *Reconciler) generate(ctx context.Context, as *v1alpha1.ApplicationSet) ([]*v1alpha1.Application, error) {
	clusters, err := appset.Clusters(ctx, r.clusters)
	if err != nil {
		return nil, generationError(err)
	}
	apps, err := appset.Applications(ctx, as, clusters, appset.GitRepo{Sources: r.sources})
	if err != nil {
		return nil, generationError(err)
	}
	return apps, nil
}

// apply creates, updates and deletes the owned Applications as the sync
// policy allows (create-only, create-update, create-delete, sync).
func (r *Reconciler) apply(ctx context.Context, as *v1alpha1.ApplicationSet, desired []*v1alpha1.Application) error {
	policy := "sync"
	preserve := false
	if p := as.Spec.SyncPolicy; p != nil {
		preserve = p.PreserveResourcesOnDeletion
		if p.ApplicationsSync != "" {
			policy = p.ApplicationsSync
		}
	}
	owned, err := r.owned(ctx, as)
	if err != nil {
		return retryable(ReasonErrorOccurred, err)
	}
	want := map[types.NamespacedName]bool{}
	for _, app := range desired {
		key := client.ObjectKeyFromObject(app)
		want[key] = true
		cur, exists := owned[key]
		switch {
		case !exists:
			if err := r.client.Create(ctx, app); err != nil {
				if apierrors.IsAlreadyExists(err) {
					// Never adopted: it may be another ApplicationSet's, or a
					// person's. The spec must change (or the Application go).
					return stalled(ReasonCreateApplicationError, fmt.Errorf("Application %s exists and this ApplicationSet does not own it", key))
				}
				return retryable(ReasonCreateApplicationError, fmt.Errorf("create Application %s: %w", key, err))
			}
		case policy == "sync" || policy == "create-update":
			if err := r.update(ctx, cur, app); err != nil {
				return retryable(ReasonUpdateApplicationError, err)
			}
		}
	}
	if policy != "sync" && policy != "create-delete" {
		return nil
	}
	for key, app := range owned {
		if !want[key] {
			if err := r.remove(ctx, app, preserve); err != nil {
				return retryable(ReasonDeleteApplicationError, err)
			}
		}
	}
	return nil
}

// owned lists the Applications this ApplicationSet controls.
func (r *Reconciler) owned(ctx context.Context, as *v1alpha1.ApplicationSet) (map[types.NamespacedName]*v1alpha1.Application, error) {
	list := &v1alpha1.ApplicationList{}
	if err := r.client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list Applications: %w", err)
	}
	out := map[types.NamespacedName]*v1alpha1.Application{}
	for i := range list.Items {
		app := &list.Items[i]
		if ref := metav1.GetControllerOf(app); ref != nil && ref.UID == as.UID {
			out[client.ObjectKeyFromObject(app)] = app
		}
	}
	return out, nil
}

// update brings an owned Application's spec, labels, annotations and
// finalizers to the rendered ones; status and other annotations (refresh,
// notified) are left alone.
func (r *Reconciler) update(ctx context.Context, cur, app *v1alpha1.Application) error {
	if !cur.DeletionTimestamp.IsZero() {
		return nil // on its way out
	}
	next := cur.DeepCopy()
	next.Spec = app.Spec
	next.Labels = app.Labels
	for k, v := range app.Annotations {
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[k] = v
	}
	// Only the cascading finalizer is the template's to add or remove;
	// others (foregroundDeletion...) belong to whoever set them.
	next.Finalizers = slices.DeleteFunc(slices.Clone(cur.Finalizers), func(f string) bool { return f == appset.ResourcesFinalizer })
	if slices.Contains(app.Finalizers, appset.ResourcesFinalizer) {
		next.Finalizers = append(next.Finalizers, appset.ResourcesFinalizer)
	}
	if equality.Semantic.DeepEqual(cur.Spec, next.Spec) && equality.Semantic.DeepEqual(cur.ObjectMeta, next.ObjectMeta) {
		return nil
	}
	// A merge patch, not an update: the Application controller writes
	// status all the time, and a resourceVersion precondition would keep
	// conflicting with it.
	if err := r.client.Patch(ctx, next, client.MergeFrom(cur)); err != nil {
		return fmt.Errorf("update Application %s: %w", client.ObjectKeyFromObject(cur), err)
	}
	return nil
}

// remove deletes an Application the generators no longer produce; with
// preserveResourcesOnDeletion its cascading finalizer goes first, so what it
// deployed stays.
func (r *Reconciler) remove(ctx context.Context, app *v1alpha1.Application, preserve bool) error {
	if preserve && slices.Contains(app.Finalizers, appset.ResourcesFinalizer) {
		patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
		app.Finalizers = slices.DeleteFunc(app.Finalizers, func(f string) bool { return f == appset.ResourcesFinalizer })
		if err := r.client.Patch(ctx, app, patch); err != nil {
			return fmt.Errorf("remove the finalizer of Application %s: %w", client.ObjectKeyFromObject(app), err)
		}
	}
	if err := r.client.Delete(ctx, app); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Application %s: %w", client.ObjectKeyFromObject(app), err)
	}
	return nil
}
