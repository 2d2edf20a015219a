package image_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// flakyRegistry is a test registry that can be switched to answer 500.
type flakyRegistry struct {
	*testRegistry
	failing atomic.Bool
}

func newFlakyRegistry(t *testing.T) *flakyRegistry {
	f := &flakyRegistry{}
	inner := registry.New()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.failing.Load() {
			http.Error(w, "registry on fire", http.StatusInternalServerError)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	f.testRegistry = &testRegistry{t: t, host: strings.TrimPrefix(srv.URL, "http://")}
	return f
}

// TestScanFailureKeepsLastResult: a registry that starts failing makes the
// ImageRepository Ready=False with the cause, while its last scan result and
// the policy's pick stay; the v1 view of the policy shows status.latestRef.
func TestScanFailureKeepsLastResult(t *testing.T) {
	ctx := t.Context()
	reg := newFlakyRegistry(t)
	reg.push("web", "1.0.0", "1.1.0", "nightly")
	const ns = "flaky"
	createNamespace(ctx, t, ns)
	create(ctx, t,
		&imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: imagev1.ImageRepositorySpec{Image: reg.host + "/web", Interval: metav1.Duration{Duration: time.Hour}}},
		&imagev1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns},
			Spec: imagev1.ImagePolicySpec{ImageRepositoryRef: imagev1.ImageRepositoryRef{Name: "web"},
				Policy: imagev1.ImagePolicyChoice{SemVer: &imagev1.SemVerPolicy{Range: "1.x"}}}},
	)
	policyPicks(t, ns, "web", reg.host+"/web:1.1.0")

	reg.failing.Store(true)
	requestReconcile(ctx, t, &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}})
	localclustertest.Eventually(t, time.Minute, "ImageRepository reports the failed scan", func(ctx context.Context) (bool, string) {
		r := &imagev1.ImageRepository{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, r); err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(r.Status.Conditions, imagev1.ReadyCondition)
		ok := c != nil && c.Status == metav1.ConditionFalse && c.Reason == "ScanFailed" && strings.Contains(c.Message, "500") &&
			r.Status.LastScanResult != nil && r.Status.LastScanResult.TagCount == 3
		return ok, fmt.Sprintf("%+v", r.Status)
	})
	policyPicks(t, ns, "web", reg.host+"/web:1.1.0")

	v1 := &unstructured.Unstructured{}
	v1.SetAPIVersion("image.toolkit.fluxcd.io/v1")
	v1.SetKind("ImagePolicy")
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "web"}, v1); err != nil {
		t.Fatal(err)
	}
	if tag, _, _ := unstructured.NestedString(v1.Object, "status", "latestRef", "tag"); tag != "1.1.0" {
		t.Errorf("v1 status.latestRef.tag = %q, want 1.1.0", tag)
	}
}
