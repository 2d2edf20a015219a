package notify

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/api"
)

func TestLoader(t *testing.T) {
	ctx := t.Context()
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).Build()
	l := &Loader{Reader: c, Namespace: "argocd"}
	if _, err := l.Load(ctx); !apierrors.IsNotFound(err) {
		t.Fatalf("without the ConfigMap: %v, want NotFound", err)
	}

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: ConfigMapName},
		Data: map[string]string{"service.slack": "url: https://slack"}}
	if err := c.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	first, err := l.Load(ctx)
	if err != nil || first == nil {
		t.Fatalf("without the Secret: %v, %v", first, err)
	}
	if again, err := l.Load(ctx); err != nil || again != first {
		t.Errorf("unchanged: parsed again (%p, %p) or %v", again, first, err)
	}

	cm.Data["service.slack"] = "url: $slack-url"
	if err := c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(ctx); err == nil || apierrors.IsNotFound(err) {
		t.Errorf("a missing secret key: %v, want a parse error", err)
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: SecretName},
		Data: map[string][]byte{"slack-url": []byte("https://slack/hook")}}
	if err := c.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	cfg, err := l.Load(ctx)
	if err != nil || cfg == first {
		t.Fatalf("after the Secret appeared: %v (same config: %v)", err, cfg == first)
	}
	if got := cfg.redact("https://slack/hook"); got != "***" {
		t.Errorf("the Secret's value is not a secret of the configuration: %q", got)
	}
}
