package v1alpha1

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func TestAddToScheme(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{ApplicationKind, "ApplicationList", AppProjectKind, "AppProjectList"} {
		gvk := GroupVersion.WithKind(kind)
		if !scheme.Recognizes(gvk) {
			t.Errorf("scheme does not recognise %s", gvk)
		}
	}
	gvks, _, err := scheme.ObjectKinds(&Application{})
	if err != nil || len(gvks) != 1 || gvks[0] != GroupVersion.WithKind(ApplicationKind) {
		t.Errorf("ObjectKinds(Application) = %v, %v", gvks, err)
	}
}
