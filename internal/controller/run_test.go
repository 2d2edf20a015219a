package controller

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// TestEnsureHomeNamespace checks that a missing home namespace is created
// and an existing one is left as it is (labels kept).
func TestEnsureHomeNamespace(t *testing.T) {
	existing := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd", Labels: map[string]string{"owner": "ops"}}}
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(existing).Build()
	for _, name := range []string{"argocd", "gitops"} {
		if err := ensureHomeNamespace(t.Context(), c, name); err != nil {
			t.Fatalf("ensureHomeNamespace(%s): %v", name, err)
		}
		ns := &corev1.Namespace{}
		if err := c.Get(t.Context(), client.ObjectKey{Name: name}, ns); err != nil {
			t.Fatalf("namespace %s after ensureHomeNamespace: %v", name, err)
		}
	}
	ns := &corev1.Namespace{}
	_ = c.Get(t.Context(), client.ObjectKey{Name: "argocd"}, ns)
	if ns.Labels["owner"] != "ops" {
		t.Errorf("existing namespace rewritten: labels %v", ns.Labels)
	}
}
