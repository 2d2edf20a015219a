package image_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

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
	// The receiver reads its secret from the watch cache, which sees the new
	// Secret a moment after the create: until then it answers 401.
	localclustertest.Eventually(t, time.Minute, "the registry webhook accepts the secret", func(ctx context.Context) (bool, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL+"/api/webhook/registry",
			strings.NewReader(`{"image":"`+reg.host+`/cli","tag":"1.2.0"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer registry-hook-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			return false, resp.Status
		}
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"refreshed":1`) {
			t.Fatalf("registry webhook: %s %s", resp.Status, body)
		}
		return true, ""
	})
	policyPicks(t, ns, "cli", reg.host+"/cli:1.2.0")
}
