package appview

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func secret(data, stringData map[string]any) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata": map[string]any{"name": "creds", "namespace": "team", "resourceVersion": "7", "uid": "u-1",
			"annotations": map[string]any{lastApplied: `{"data":{"password":"aHVudGVyMg=="}}`}},
	}}
	if data != nil {
		u.Object["data"] = data
	}
	if stringData != nil {
		u.Object["stringData"] = stringData
	}
	return u
}

func TestDisplayYAMLMasksSecretValues(t *testing.T) {
	u := secret(map[string]any{"password": "aHVudGVyMg==", "token": "*** (after)"}, map[string]any{"extra": "hunter3"})
	got, err := DisplayYAML(u)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"aHVudGVyMg", "hunter", "resourceVersion", "uid"} {
		if strings.Contains(got, leak) {
			t.Errorf("DisplayYAML shows %q:\n%s", leak, got)
		}
	}
	for _, want := range []string{"password: '***'", "token: '*** (after)'", "extra: '***'", lastApplied + `: '***'`} {
		if !strings.Contains(got, want) {
			t.Errorf("DisplayYAML lacks %q:\n%s", want, got)
		}
	}
	if u.Object["data"].(map[string]any)["password"] != "aHVudGVyMg==" {
		t.Error("DisplayYAML changed the object it was given")
	}
}

func TestDisplayYAMLLeavesOtherKindsAlone(t *testing.T) {
	cm := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "ConfigMap",
		"metadata": map[string]any{"name": "cfg"}, "data": map[string]any{"GREETING": "hello"}}}
	got, err := DisplayYAML(cm)
	if err != nil || !strings.Contains(got, "GREETING: hello") {
		t.Errorf("DisplayYAML(ConfigMap) = %q, %v; want its data", got, err)
	}
	if got, err := DisplayYAML(nil); got != "" || err != nil {
		t.Errorf("DisplayYAML(nil) = %q, %v", got, err)
	}
}

// TestUnifiedMasksAnObjectToPrune: an object a sync would prune is shown
// as it was read, not through the dry-run that masks the others.
func TestUnifiedMasksAnObjectToPrune(t *testing.T) {
	got, err := Unified("/Secret team/creds", secret(map[string]any{"password": "aHVudGVyMg=="}, nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "===== /Secret team/creds ======\n--- live//Secret team/creds\n+++ desired//Secret team/creds\n") {
		t.Errorf("Unified header:\n%s", got)
	}
	if strings.Contains(got, "aHVudGVyMg") || !strings.Contains(got, "-  password: '***'") {
		t.Errorf("Unified of a Secret to prune:\n%s", got)
	}
}
