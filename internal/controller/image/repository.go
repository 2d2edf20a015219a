// Package image reconciles Flux's image automation API: ImageRepository
// (scan a registry for tags), ImagePolicy (pick the latest image) and
// ImageUpdateAutomation (commit the picks to Git and push), in Ferry's one
// controller process.
package image

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ferrycd/ferry/internal/netguard"
	"github.com/ferrycd/ferry/internal/redact"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/image/registry"
	"github.com/ferrycd/ferry/internal/image/requestedat"
	"github.com/ferrycd/ferry/internal/metrics"
)

// tagStore holds the tags of each scanned repository, for the policies. It
// lives in memory: after a restart every repository is scanned again before
// its policies are evaluated.
type tagStore struct {
	mu    sync.RWMutex
	repos map[types.NamespacedName]scanned
}

// scanned is the tags of the image a repository was last scanned for.
type scanned struct {
	image string
	tags  []string
}

func newTagStore() *tagStore { return &tagStore{repos: map[types.NamespacedName]scanned{}} }

func (s *tagStore) set(k types.NamespacedName, image string, tags []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[k] = scanned{image: image, tags: tags}
}

// get returns the tags last scanned for image; ok is false when the
// repository was not scanned yet, or was scanned for another image (its
// spec changed and the new scan has not run).
func (s *tagStore) get(k types.NamespacedName, image string) ([]string, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.repos[k]
	return sc.tags, ok && sc.image == image
}

func (s *tagStore) delete(k types.NamespacedName) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.repos, k)
}

// RepositoryReconciler scans ImageRepositories.
type RepositoryReconciler struct {
	client  client.Client
	reader  client.Reader // the cache, but Secrets from the API server
	store   *tagStore
	metrics *metrics.Metrics
	net     netguard.Policy
	// failures counts consecutive failed scans per repository, for backoff.
	mu       sync.Mutex
	failures map[types.NamespacedName]int
}

// Reconcile scans when the interval passed, the spec changed or a scan was
// requested; a failed scan keeps the last good result and backs off.
func (r *RepositoryReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	repo := &imagev1.ImageRepository{}
	if err := r.client.Get(ctx, req.NamespacedName, repo); err != nil {
		if apierrors.IsNotFound(err) {
			r.store.delete(req.NamespacedName)
			r.resetBackoff(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if repo.Spec.Suspend {
		return ctrl.Result{}, nil
	}
	interval := max(repo.Spec.Interval.Duration, 10*time.Second)
	requested, asked := requestedat.Pending(repo.Annotations, repo.Status.LastHandledReconcileAt)
	_, scanned := r.store.get(req.NamespacedName, repo.Spec.Image)
	if last := repo.Status.LastScanResult; scanned && !asked && last != nil && repo.Status.ObservedGeneration == repo.Generation &&
		time.Since(last.ScanTime.Time) < interval {
		return ctrl.Result{RequeueAfter: interval - time.Since(last.ScanTime.Time)}, nil
	}
	before := repo.DeepCopy()
	res, err := r.scan(ctx, repo)
	r.metrics.Scanned(repo.Namespace, repo.Name, err == nil)
	repo.Status.ObservedGeneration = repo.Generation
	if asked {
		repo.Status.LastHandledReconcileAt = requested
	}
	wait := interval
	if err != nil {
		setReady(&repo.Status.Conditions, repo.Generation, metav1.ConditionFalse, "ScanFailed", err.Error())
		wait = r.backoff(req.NamespacedName, interval)
	} else {
		r.resetBackoff(req.NamespacedName)
		r.store.set(req.NamespacedName, repo.Spec.Image, res.Tags)
		repo.Status.CanonicalImageName = res.CanonicalName
		repo.Status.LastScanResult = &imagev1.ScanResult{TagCount: len(res.Tags), ScanTime: metav1.Now(), LatestTags: latestTags(res.Tags)}
		msg := fmt.Sprintf("successful scan: found %d tags", len(res.Tags))
		if res.Dropped > 0 {
			msg += fmt.Sprintf(" (%d malformed or overlong tags ignored)", res.Dropped)
		}
		setReady(&repo.Status.Conditions, repo.Generation, metav1.ConditionTrue, "Succeeded", msg)
	}
	if err := r.client.Status().Patch(ctx, repo, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("update status of ImageRepository %s: %w", req.NamespacedName, err)
	}
	return ctrl.Result{RequeueAfter: wait}, nil
}

func (r *RepositoryReconciler) scan(ctx context.Context, repo *imagev1.ImageRepository) (registry.Result, error) {
	opts := registry.Options{Insecure: repo.Spec.Insecure, Exclusions: repo.Spec.ExclusionList, UserAgent: "ferry", Net: r.net}
	if t := repo.Spec.Timeout; t != nil {
		opts.Timeout = t.Duration
	}
	if ref := repo.Spec.SecretRef; ref != nil {
		s := &corev1.Secret{}
		if err := r.reader.Get(ctx, client.ObjectKey{Namespace: repo.Namespace, Name: ref.Name}, s); err != nil {
			return registry.Result{}, fmt.Errorf("spec.secretRef %s: %w", ref.Name, err)
		}
		data, ok := s.Data[corev1.DockerConfigJsonKey]
		if !ok {
			return registry.Result{}, fmt.Errorf("spec.secretRef %s: no %s key (want a %s Secret)", ref.Name, corev1.DockerConfigJsonKey, corev1.SecretTypeDockerConfigJson)
		}
		opts.DockerConfigJSON = data
	}
	return registry.Scan(ctx, repo.Spec.Image, opts)
}

// backoff is the wait after a failed scan: 5s doubling, at most the
// interval.
func (r *RepositoryReconciler) backoff(k types.NamespacedName, interval time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures[k]++
	d := 5 * time.Second
	for i := 1; i < r.failures[k] && d < interval; i++ {
		d *= 2
	}
	return min(d, interval)
}

func (r *RepositoryReconciler) resetBackoff(k types.NamespacedName) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.failures, k)
}

// latestTags are the ten greatest tags, in descending order, as Flux shows
// them.
func latestTags(tags []string) []string {
	out := slices.Clone(tags)
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out[:min(10, len(out))]
}

func setReady(conds *[]metav1.Condition, generation int64, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: imagev1.ReadyCondition, Status: status, Reason: reason,
		Message: redact.Text(msg), ObservedGeneration: generation})
}

// setupRepositories registers the ImageRepository controller.
func setupRepositories(mgr ctrl.Manager, store *tagStore, m *metrics.Metrics, net netguard.Policy) error {
	r := &RepositoryReconciler{client: mgr.GetClient(), reader: secretsUncached{mgr.GetClient(), mgr.GetAPIReader()}, store: store, metrics: m, net: net, failures: map[types.NamespacedName]int{}}
	return ctrl.NewControllerManagedBy(mgr).Named("imagerepository").
		For(&imagev1.ImageRepository{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Complete(r)
}
