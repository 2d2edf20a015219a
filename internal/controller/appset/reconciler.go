// Package appset reconciles ApplicationSets: it runs the generators
// (internal/appset) over the cluster registry and Git, renders one
// Application per parameter set, and creates, updates and deletes the
// Applications it owns, as Argo CD's ApplicationSet controller does.
package appset

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
}

// Setup registers the controller: an ApplicationSet is reconciled when it
// changes, when an Application it owns changes, when a cluster Secret of
// the home namespace changes (the clusters generator's input), and when a
// webhook announces a push to a repository its git generators read
// (RepositoryPushed).
func Setup(mgr ctrl.Manager, homeCache cache.Cache, home string, sources *gitsource.Cache) (*Reconciler, error) {
	r := &Reconciler{client: mgr.GetClient(), clusters: cluster.Registry{Reader: homeCache, Namespace: home, Options: cluster.Options{AllowExec: true}}, sources: sources,
		pushed: make(chan event.GenericEvent, 256)}
	clusterSecrets := source.Kind(homeCache, client.Object(&corev1.Secret{}),
		handler.EnqueueRequestsFromMapFunc(r.allAppSets), predicate.NewPredicateFuncs(isClusterSecret))
	return r, ctrl.NewControllerManagedBy(mgr).Named("applicationset").
		For(&v1alpha1.ApplicationSet{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&v1alpha1.Application{}).
		WatchesRawSource(clusterSecrets).
		WatchesRawSource(source.Channel(r.pushed, &handler.EnqueueRequestForObject{})).
		Complete(r)
}

// RepositoryPushed reconciles now every ApplicationSet whose git generators
// read one of urls (a webhook push), listing the repository's refs again
// first; it returns how many.
func (r *Reconciler) RepositoryPushed(ctx context.Context, urls []string) int {
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
		repo, ok := gitRepoOf(as, want)
		if !ok {
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

// gitRepoOf finds, in an ApplicationSet's generators (at any depth), a git
// generator's repoURL among want (normalized URLs).
func gitRepoOf(as *v1alpha1.ApplicationSet, want map[string]bool) (string, bool) {
	for _, raw := range as.Spec.Generators {
		var v any
		if json.Unmarshal(raw.Raw, &v) != nil {
			continue
		}
		if repo, ok := findRepoURL(v, want); ok {
			return repo, true
		}
	}
	return "", false
}

func findRepoURL(v any, want map[string]bool) (string, bool) {
	switch t := v.(type) {
	case map[string]any:
		if git, ok := t["git"].(map[string]any); ok {
			if u, ok := git["repoURL"].(string); ok {
				if n, err := gitsource.NormalizeURL(u); err == nil && want[n] {
					return u, true
				}
			}
		}
		for _, child := range t {
			if u, ok := findRepoURL(child, want); ok {
				return u, true
			}
		}
	case []any:
		for _, child := range t {
			if u, ok := findRepoURL(child, want); ok {
				return u, true
			}
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
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	as := &v1alpha1.ApplicationSet{}
	if err := r.client.Get(ctx, req.NamespacedName, as); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !as.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned Applications go through garbage collection
	}
	before := as.DeepCopy()
	desired, usesGit, err := r.generate(ctx, as)
	if err == nil {
		err = r.apply(ctx, as, desired)
	}
	r.setStatus(ctx, as, desired, err)
	if !equality.Semantic.DeepEqual(before.Status, as.Status) {
		if perr := r.client.Status().Patch(ctx, as, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, fmt.Errorf("update status of ApplicationSet %s: %w", req.NamespacedName, perr)
		}
	}
	switch {
	case err != nil:
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	case usesGit:
		return ctrl.Result{RequeueAfter: gitRequeue}, nil
	}
	return ctrl.Result{}, nil
}

// generate runs the generators over the cluster registry and Git and
// renders the Applications; usesGit says whether it has git generators.
func (r *Reconciler) generate(ctx context.Context, as *v1alpha1.ApplicationSet) ([]*v1alpha1.Application, bool, error) {
	usesGit := false
	for _, raw := range as.Spec.Generators {
		usesGit = usesGit || strings.Contains(string(raw.Raw), `"git"`)
	}
	clusters, err := appset.Clusters(ctx, r.clusters)
	if err != nil {
		return nil, usesGit, err
	}
	apps, err := appset.Applications(ctx, as, clusters, appset.GitRepo{Sources: r.sources})
	return apps, usesGit, err
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
		return err
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
					return fmt.Errorf("Application %s exists and this ApplicationSet does not own it", key)
				}
				return fmt.Errorf("create Application %s: %w", key, err)
			}
		case policy == "sync" || policy == "create-update":
			if err := r.update(ctx, cur, app); err != nil {
				return err
			}
		}
	}
	if policy != "sync" && policy != "create-delete" {
		return nil
	}
	for key, app := range owned {
		if !want[key] {
			if err := r.remove(ctx, app, preserve); err != nil {
				return err
			}
		}
	}
	return nil
}

// owned lists the Applications this ApplicationSet controls.
func (r *Reconciler) owned(ctx context.Context, as *v1alpha1.ApplicationSet) (map[types.NamespacedName]*v1alpha1.Application, error) {
	list := &v1alpha1.ApplicationList{}
	if err := r.client.List(ctx, list); err != nil {
		return nil, err
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

// setStatus records the conditions and the generated Applications' state.
func (r *Reconciler) setStatus(ctx context.Context, as *v1alpha1.ApplicationSet, desired []*v1alpha1.Application, err error) {
	now := metav1.Now()
	cond := func(typ, status, reason, msg string) v1alpha1.ApplicationSetCondition {
		for _, c := range as.Status.Conditions {
			if c.Type == typ && c.Status == status && c.Message == msg {
				return c
			}
		}
		return v1alpha1.ApplicationSetCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastTransitionTime: &now}
	}
	if err != nil {
		as.Status.Conditions = []v1alpha1.ApplicationSetCondition{
			cond("ErrorOccurred", "True", "ApplicationGenerationFromParamsError", err.Error()),
			cond("ParametersGenerated", "False", "ErrorOccurred", err.Error()),
			cond("ResourcesUpToDate", "False", "ErrorOccurred", err.Error()),
		}
		return
	}
	as.Status.Conditions = []v1alpha1.ApplicationSetCondition{
		cond("ErrorOccurred", "False", "ApplicationSetUpToDate", "Successfully generated parameters for all Applications"),
		cond("ParametersGenerated", "True", "ParametersGenerated", "Successfully generated parameters for all Applications"),
		cond("ResourcesUpToDate", "True", "ApplicationSetUpToDate", "ApplicationSet up to date"),
	}
	resources := make([]v1alpha1.ResourceStatus, 0, len(desired))
	for _, app := range desired {
		res := v1alpha1.ResourceStatus{Group: v1alpha1.GroupVersion.Group, Version: v1alpha1.GroupVersion.Version,
			Kind: v1alpha1.ApplicationKind, Namespace: app.Namespace, Name: app.Name}
		cur := &v1alpha1.Application{}
		if err := r.client.Get(ctx, client.ObjectKeyFromObject(app), cur); err == nil {
			res.Status = cur.Status.Sync.Status
			if cur.Status.Health.Status != "" {
				res.Health = &v1alpha1.HealthStatus{Status: cur.Status.Health.Status, Message: cur.Status.Health.Message}
			}
		}
		resources = append(resources, res)
	}
	as.Status.Resources = resources
}
