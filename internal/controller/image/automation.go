package image

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
	"github.com/ferrycd/ferry/internal/image/gitupdate"
	"github.com/ferrycd/ferry/internal/image/setters"
	"github.com/ferrycd/ferry/internal/metrics"
)

// AutomationReconciler runs ImageUpdateAutomations.
type AutomationReconciler struct {
	client client.Client
	// notify is told of every push, so Applications tracking the repository
	// refresh at once instead of at their next poll.
	notify  func(ctx context.Context, repoURL string)
	metrics *metrics.Metrics
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
	opts, err := r.options(ctx, a)
	var res gitupdate.Result
	if err == nil {
		res, err = gitupdate.Run(ctx, opts)
	}
	now := metav1.Now()
	a.Status.LastAutomationRunTime = &now
	a.Status.ObservedGeneration = a.Generation
	if v, asked := reconcileRequested(a.Annotations, a.Status.LastHandledReconcileAt); asked {
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

func (r *AutomationReconciler) options(ctx context.Context, a *imagev1.ImageUpdateAutomation) (gitupdate.Options, error) {
	return UpdateOptions(ctx, r.client, a)
}

// UpdateOptions gathers a run's inputs: the GitRepository and its
// credentials, the branches, and the images the namespace's policies
// picked. `ferry image update --dry-run` uses it as the controller does.
func UpdateOptions(ctx context.Context, c client.Client, a *imagev1.ImageUpdateAutomation) (gitupdate.Options, error) {
	r := &AutomationReconciler{client: c}
	ref := a.Spec.SourceRef
	ns := ref.Namespace
	if ns == "" {
		ns = a.Namespace
	}
	repo := &sourcev1.GitRepository{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, repo); err != nil {
		return gitupdate.Options{}, fmt.Errorf("spec.sourceRef %s/%s: %w", ns, ref.Name, err)
	}
	opts := gitupdate.Options{URL: repo.Spec.URL, Automation: types.NamespacedName{Namespace: a.Namespace, Name: a.Name},
		Timeout: 2 * time.Minute} // a stalled Git server must not hold the worker
	if t := repo.Spec.Timeout; t != nil && t.Duration > 0 {
		opts.Timeout = t.Duration
	}
	var err error
	if opts.Auth, opts.Secrets, err = r.auth(ctx, repo); err != nil {
		return opts, err
	}
	if g := a.Spec.GitSpec; g != nil {
		if g.Checkout != nil {
			opts.CheckoutBranch = g.Checkout.Reference.Branch
		}
		if g.Push != nil {
			opts.PushBranch = g.Push.Branch
		}
		opts.AuthorName, opts.AuthorEmail = g.Commit.Author.Name, g.Commit.Author.Email
		opts.MessageTemplate, opts.Values = g.Commit.MessageTemplate, g.Commit.MessageTemplateValues
	}
	if opts.CheckoutBranch == "" && repo.Spec.Reference != nil {
		opts.CheckoutBranch = repo.Spec.Reference.Branch
	}
	if opts.CheckoutBranch == "" {
		opts.CheckoutBranch = "master" // Flux's default for a GitRepository without ref
	}
	if u := a.Spec.Update; u != nil {
		opts.Path = u.Path
	}
	opts.Images, err = r.images(ctx, a)
	return opts, err
}

// images are the latest images of the automation's policies, by
// "namespace:name".
func (r *AutomationReconciler) images(ctx context.Context, a *imagev1.ImageUpdateAutomation) (map[string]setters.Image, error) {
	sel := labels.Everything()
	if a.Spec.PolicySelector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(a.Spec.PolicySelector); err != nil {
			return nil, fmt.Errorf("spec.policySelector: %w", err)
		}
	}
	list := &imagev1.ImagePolicyList{}
	if err := r.client.List(ctx, list, client.InNamespace(a.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	out := map[string]setters.Image{}
	for _, p := range list.Items {
		if l := p.Status.LatestRef; l != nil && l.Tag != "" {
			out[p.Namespace+":"+p.Name] = setters.Image{Name: l.Name, Tag: l.Tag}
		}
	}
	return out, nil
}

// auth reads the GitRepository's Secret in Flux's format: username and
// password, or bearerToken, for HTTP(S); identity (and known_hosts) for SSH.
func (r *AutomationReconciler) auth(ctx context.Context, repo *sourcev1.GitRepository) (transport.AuthMethod, []string, error) {
	if repo.Spec.SecretRef == nil {
		return nil, nil, nil
	}
	s := &corev1.Secret{}
	if err := r.client.Get(ctx, client.ObjectKey{Namespace: repo.Namespace, Name: repo.Spec.SecretRef.Name}, s); err != nil {
		return nil, nil, fmt.Errorf("GitRepository %s spec.secretRef: %w", repo.Name, err)
	}
	d := s.Data
	secrets := []string{string(d["password"]), string(d["bearerToken"])}
	if strings.HasPrefix(repo.Spec.URL, "ssh://") || strings.Contains(repo.Spec.URL, "@") && !strings.Contains(repo.Spec.URL, "://") {
		keys, err := gitssh.NewPublicKeys("git", d["identity"], string(d["password"]))
		if err != nil {
			return nil, secrets, fmt.Errorf("GitRepository %s: ssh identity: %w", repo.Name, err)
		}
		if kh := d["known_hosts"]; len(kh) > 0 {
			f, err := os.CreateTemp("", "ferry-known-hosts-")
			if err != nil {
				return nil, secrets, err
			}
			defer os.Remove(f.Name())
			if _, err := f.Write(kh); err != nil {
				f.Close()
				return nil, secrets, err
			}
			f.Close()
			if keys.HostKeyCallback, err = gitssh.NewKnownHostsCallback(f.Name()); err != nil {
				return nil, secrets, fmt.Errorf("GitRepository %s: known_hosts: %w", repo.Name, err)
			}
		}
		return keys, secrets, nil
	}
	if tok := d["bearerToken"]; len(tok) > 0 {
		return &githttp.TokenAuth{Token: string(tok)}, secrets, nil
	}
	if len(d["username"]) > 0 || len(d["password"]) > 0 {
		return &githttp.BasicAuth{Username: string(d["username"]), Password: string(d["password"])}, secrets, nil
	}
	return nil, secrets, nil
}

// setupAutomations registers the ImageUpdateAutomation controller: an
// automation runs when it changes and when a policy in its namespace picks
// a new image.
func setupAutomations(mgr ctrl.Manager, notify func(context.Context, string), m *metrics.Metrics) error {
	r := &AutomationReconciler{client: mgr.GetClient(), notify: notify, metrics: m}
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
