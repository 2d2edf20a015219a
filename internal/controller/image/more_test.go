package image_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/cli"
	"github.com/ferrycd/ferry/internal/localcluster"
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

func createNamespace(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(name)
	if err := env.Client.Create(ctx, u); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

func policyPicks(t *testing.T, ns, name, want string) {
	t.Helper()
	localclustertest.Eventually(t, time.Minute, "ImagePolicy "+name+" picks "+want, func(ctx context.Context) (bool, string) {
		p := &imagev1.ImagePolicy{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return false, err.Error()
		}
		return p.Status.LatestImage == want, fmt.Sprintf("%+v", p.Status)
	})
}

func requestReconcile(ctx context.Context, t *testing.T, obj client.Object) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`))
	if err := env.Client.Patch(ctx, obj, patch); err != nil {
		t.Fatal(err)
	}
}

func ferry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCmd(cli.IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.SetArgs(append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestImageCLI: ferry image scan, list and update --dry-run on a repository
// and policy of their own.
func TestImageCLI(t *testing.T) {
	ctx := t.Context()
	reg := newTestRegistry(t)
	reg.push("cli", "0.9.0", "1.0.0")
	const ns = "image-cli"
	createNamespace(ctx, t, ns)
	create(ctx, t,
		&imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Name: "cli", Namespace: ns},
			Spec: imagev1.ImageRepositorySpec{Image: reg.host + "/cli", Interval: metav1.Duration{Duration: time.Hour}}},
		&imagev1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Name: "cli", Namespace: ns},
			Spec: imagev1.ImagePolicySpec{ImageRepositoryRef: imagev1.ImageRepositoryRef{Name: "cli"},
				Policy: imagev1.ImagePolicyChoice{Numerical: nil, SemVer: &imagev1.SemVerPolicy{Range: ">=0.1.0"}}}},
	)
	policyPicks(t, ns, "cli", reg.host+"/cli:1.0.0")

	reg.push("cli", "1.1.0")
	out, err := ferry(t, "image", "scan", "cli", "-n", ns)
	if err != nil || !strings.Contains(out, "found 3 tags") || !strings.Contains(out, "1.1.0") {
		t.Errorf("ferry image scan: %v\n%s", err, out)
	}
	policyPicks(t, ns, "cli", reg.host+"/cli:1.1.0")
	out, err = ferry(t, "image", "list", "-n", ns)
	if err != nil || !strings.Contains(out, reg.host+"/cli:1.1.0") || !strings.Contains(out, ns+"/cli") {
		t.Errorf("ferry image list: %v\n%s", err, out)
	}
	if _, err := ferry(t, "image", "scan", "missing", "-n", ns); err == nil {
		t.Error("scan of a missing ImageRepository succeeded")
	}

	// A registry's push webhook (generic form) scans at once.
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: "argocd"},
		StringData: map[string]string{"webhook.generic.secret": "registry-hook-1"}}
	createNamespace(ctx, t, "argocd")
	create(ctx, t, secret)
	reg.push("cli", "1.2.0")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL+"/api/webhook/registry",
		strings.NewReader(`{"image":"`+reg.host+`/cli","tag":"1.2.0"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer registry-hook-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"refreshed":1`) {
		t.Fatalf("registry webhook: %s %s", resp.Status, body)
	}
	policyPicks(t, ns, "cli", reg.host+"/cli:1.2.0")
}
