package image

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/image/policy"
)

// PolicyReconciler picks the latest image of each ImagePolicy from its
// repository's last scan.
type PolicyReconciler struct {
	client client.Client
	store  *tagStore
	// crossNamespace lets a policy read another namespace's repository.
	crossNamespace bool
}

// Reconcile evaluates one policy. No candidate, an invalid policy or a
// repository not scanned yet is a Ready=False condition saying so; the
// previous pick stays.
func (r *PolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &imagev1.ImagePolicy{}
	if err := r.client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	r.evaluate(ctx, p)
	p.Status.ObservedGeneration = p.Generation
	if err := r.client.Status().Patch(ctx, p, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("update status of ImagePolicy %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{}, nil
}

func (r *PolicyReconciler) evaluate(ctx context.Context, p *imagev1.ImagePolicy) {
	fail := func(reason, format string, args ...any) {
		setReady(&p.Status.Conditions, p.Generation, metav1.ConditionFalse, reason, fmt.Sprintf(format, args...))
	}
	ref := repositoryOf(p)
	if ref.Namespace != p.Namespace && !r.crossNamespace {
		fail("AccessDenied", "spec.imageRepositoryRef.namespace %s: cross-namespace references are refused unless the controller runs with --allow-cross-namespace-refs", ref.Namespace)
		return
	}
	repo := &imagev1.ImageRepository{}
	if err := r.client.Get(ctx, ref, repo); err != nil {
		fail("DependencyNotReady", "ImageRepository %s: %v", ref, err)
		return
	}
	tags, ok := r.store.get(ref, repo.Spec.Image)
	if !ok {
		fail("DependencyNotReady", "ImageRepository %s has not been scanned for %s yet", ref, repo.Spec.Image)
		return
	}
	tag, found, err := policy.Select(choiceOf(p.Spec), tags)
	switch {
	case err != nil:
		fail("InvalidPolicy", "%v", err)
		return
	case !found:
		fail("NoCandidate", "no tag of %s among %d matches the policy", repo.Spec.Image, len(tags))
		return
	}
	image := repo.Spec.Image + ":" + tag
	if p.Status.LatestImage != "" && p.Status.LatestImage != image {
		p.Status.ObservedPreviousImage = p.Status.LatestImage
	}
	p.Status.LatestImage = image
	p.Status.LatestRef = &imagev1.ImageRef{Name: repo.Spec.Image, Tag: tag}
	setReady(&p.Status.Conditions, p.Generation, metav1.ConditionTrue, "Succeeded",
		fmt.Sprintf("Latest image tag for '%s' resolved to %s", repo.Spec.Image, tag))
}

func repositoryOf(p *imagev1.ImagePolicy) types.NamespacedName {
	ns := p.Spec.ImageRepositoryRef.Namespace
	if ns == "" {
		ns = p.Namespace
	}
	return types.NamespacedName{Namespace: ns, Name: p.Spec.ImageRepositoryRef.Name}
}

// choiceOf translates the API's policy into the selector's terms.
func choiceOf(s imagev1.ImagePolicySpec) policy.Choice {
	c := policy.Choice{}
	if s.Policy.SemVer != nil {
		c.SemverRange = s.Policy.SemVer.Range
	}
	if a := s.Policy.Alphabetical; a != nil {
		c.Alphabetical, c.AlphabeticalOrder = true, a.Order
	}
	if n := s.Policy.Numerical; n != nil {
		c.Numerical, c.NumericalOrder = true, n.Order
	}
	if f := s.FilterTags; f != nil {
		c.FilterPattern, c.FilterExtract = f.Pattern, f.Extract
	}
	return c
}

// setupPolicies registers the ImagePolicy controller: a policy is evaluated
// when it changes and whenever its repository's status does (a scan).
func setupPolicies(mgr ctrl.Manager, store *tagStore, crossNamespace bool) error {
	r := &PolicyReconciler{client: mgr.GetClient(), store: store, crossNamespace: crossNamespace}
	return ctrl.NewControllerManagedBy(mgr).Named("imagepolicy").
		For(&imagev1.ImagePolicy{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&imagev1.ImageRepository{}, handler.EnqueueRequestsFromMapFunc(r.policiesOf)).
		Complete(r)
}

// policiesOf lists the policies that read a repository.
func (r *PolicyReconciler) policiesOf(ctx context.Context, o client.Object) []reconcile.Request {
	list := &imagev1.ImagePolicyList{}
	if err := r.client.List(ctx, list); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		p := &list.Items[i]
		if repositoryOf(p) == (types.NamespacedName{Namespace: o.GetNamespace(), Name: o.GetName()}) {
			out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)})
		}
	}
	return out
}
