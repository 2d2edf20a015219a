package requestedat

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/api"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
)

func TestPending(t *testing.T) {
	tests := []struct {
		name        string
		annotations map[string]string
		handled     string
		want        string
		pending     bool
	}{
		{"no request", nil, "", "", false},
		{"new request", map[string]string{imagev1.ReconcileRequestAnnotation: "t1"}, "", "t1", true},
		{"handled", map[string]string{imagev1.ReconcileRequestAnnotation: "t1"}, "t1", "t1", false},
		{"newer than handled", map[string]string{imagev1.ReconcileRequestAnnotation: "t2"}, "t1", "t2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, pending := Pending(tt.annotations, tt.handled)
			if got != tt.want || pending != tt.pending {
				t.Errorf("Pending = %q, %v; want %q, %v", got, pending, tt.want, tt.pending)
			}
		})
	}
}

func TestRequest(t *testing.T) {
	repo := &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "app",
		Annotations: map[string]string{"keep": "me"}}}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(repo).Build()
	obj := &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "app"}}
	token, err := Request(t.Context(), c, obj)
	if err != nil {
		t.Fatal(err)
	}
	got := &imagev1.ImageRepository{}
	if err := c.Get(t.Context(), client.ObjectKeyFromObject(repo), got); err != nil {
		t.Fatal(err)
	}
	if v, pending := Pending(got.Annotations, ""); !pending || v != token || got.Annotations["keep"] != "me" {
		t.Errorf("annotations %v, want %s=%s and the others kept", got.Annotations, imagev1.ReconcileRequestAnnotation, token)
	}
	if obj.Annotations[imagev1.ReconcileRequestAnnotation] != token {
		t.Errorf("obj not updated from the patch: %v", obj.Annotations)
	}
	if _, err := Request(t.Context(), c, &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "missing"}}); err == nil {
		t.Error("Request of a missing object succeeded")
	}
}
