package diff_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/diff"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// methods counts a client's requests by HTTP method.
type methods struct {
	mu sync.Mutex
	n  map[string]int
}

func (m *methods) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		m.mu.Lock()
		m.n[r.Method]++
		m.mu.Unlock()
		return rt.RoundTrip(r)
	})
}

func (m *methods) take() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.n
	m.n = map[string]int{}
	return n
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// staleReader returns a copy of an object as it was.
type staleReader struct{ obj *unstructured.Unstructured }

func (s staleReader) Get(_ context.Context, _ client.ObjectKey, out client.Object, _ ...client.GetOption) error {
	s.obj.DeepCopyInto(out.(*unstructured.Unstructured))
	return nil
}

func (s staleReader) List(context.Context, client.ObjectList, ...client.ListOption) error { return nil }

// TestDifferReadsLiveFromTheCache compares through a real API server: with a
// watch cache holding the version the dry-run was computed on, a
// comparison is the dry-run alone (no GET); a cache behind the server, or
// an ignore rule that needs managedFields (which the cache drops), makes
// the Differ read the object, and a change the cache has not seen yet is
// still found.
func TestDifferReadsLiveFromTheCache(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	cfg := c.AdminConfig()
	counted := &methods{n: map[string]int{}}
	cfg.Wrap(counted.wrap)
	direct, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	watchCache, err := cache.New(c.AdminConfig(), cache.Options{Scheme: scheme.Scheme, DefaultTransform: cache.TransformStripManagedFields()})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = watchCache.Start(ctx) }()

	desired := configMap("1")
	applied := desired.DeepCopy()
	if err := direct.Patch(ctx, applied, client.Apply, client.FieldOwner("ferry"), client.ForceOwnership); err != nil {
		t.Fatal(err)
	}
	waitCached(ctx, t, watchCache, applied.GetResourceVersion())
	differ := &diff.Differ{Client: direct, Cache: watchCache, FieldManager: "ferry"}
	counted.take()

	res, err := differ.Diff(ctx, desired, nil)
	if err != nil || res.State != diff.Synced {
		t.Fatalf("cached and in sync: state %q, err %v; want Synced", res.State, err)
	}
	if got := counted.take(); got[http.MethodGet] != 0 || got[http.MethodPatch] != 1 {
		t.Errorf("cached and in sync: requests %v, want the dry-run PATCH alone", got)
	}

	// Someone changes the object; the Differ is given a cache that has
	// not seen it.
	stale := staleReader{obj: cachedCopy(ctx, t, watchCache)}
	changed := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm", Namespace: "default"}, Data: map[string]string{"a": "2"}}
	if err := direct.Update(ctx, changed); err != nil {
		t.Fatal(err)
	}
	counted.take()
	res, err = (&diff.Differ{Client: direct, Cache: stale, FieldManager: "ferry"}).Diff(ctx, desired, nil)
	if err != nil || res.State != diff.OutOfSync {
		t.Fatalf("stale cache, changed object: state %q, err %v; want OutOfSync", res.State, err)
	}
	if got := counted.take(); got[http.MethodGet] != 1 {
		t.Errorf("stale cache: requests %v, want one GET of the object", got)
	}

	// An ignore rule on field managers needs managedFields: read.
	ig, err := diff.CompileIgnoreRules([]diff.IgnoreRule{{Kind: "ConfigMap", ManagedFieldsManagers: []string{"someone"}}})
	if err != nil {
		t.Fatal(err)
	}
	waitCached(ctx, t, watchCache, changed.ResourceVersion)
	counted.take()
	if _, err := differ.Diff(ctx, desired, ig); err != nil {
		t.Fatal(err)
	}
	if got := counted.take(); got[http.MethodGet] != 1 {
		t.Errorf("managedFieldsManagers rule: requests %v, want one GET of the object", got)
	}
}

func configMap(value string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "cm", "namespace": "default"},
		"data":     map[string]any{"a": value},
	}}
}

func cachedCopy(ctx context.Context, t *testing.T, r client.Reader) *unstructured.Unstructured {
	t.Helper()
	u := configMap("")
	if err := r.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
		t.Fatal(err)
	}
	return u
}

// waitCached waits until the cache holds the ConfigMap at resourceVersion.
func waitCached(ctx context.Context, t *testing.T, r client.Reader, resourceVersion string) {
	t.Helper()
	localclustertest.Eventually(t, 30*time.Second, "the cache holds the ConfigMap", func(ctx context.Context) (bool, string) {
		u := configMap("")
		if err := r.Get(ctx, client.ObjectKeyFromObject(u), u); err != nil {
			return false, err.Error()
		}
		return u.GetResourceVersion() == resourceVersion, "at " + u.GetResourceVersion()
	})
}
