package diff

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

const live = `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: prod
  resourceVersion: "42"
  generation: 7
  uid: abc
  labels: {app: web}
  annotations: {deployment.kubernetes.io/revision: "3"}
spec:
  replicas: 5
  template:
    spec:
      containers:
        - {name: web, image: "web:1", env: [{name: A, value: "1"}]}
status: {replicas: 5}
`

func TestEqualIgnoresMetadataAndStatusButNotLabels(t *testing.T) {
	predicted := obj(t, strings.ReplaceAll(strings.ReplaceAll(live, `resourceVersion: "42"`, `resourceVersion: "43"`), "replicas: 5}", "replicas: 1}"))
	if eq, err := Equal(obj(t, live), predicted, nil); err != nil || !eq {
		t.Errorf("objects differing only in metadata and status: equal=%v err=%v", eq, err)
	}
	relabelled := obj(t, strings.Replace(live, "labels: {app: web}", "labels: {app: web, hand: made}", 1))
	if eq, _ := Equal(obj(t, live), relabelled, nil); eq {
		t.Error("a changed label compares equal")
	}
}

func TestIgnoreRules(t *testing.T) {
	scaled := obj(t, strings.Replace(live, "replicas: 5\n", "replicas: 2\n", 1))
	envChanged := obj(t, strings.Replace(live, `value: "1"`, `value: "2"`, 1))
	tests := []struct {
		name  string
		rules []IgnoreRule
		other *unstructured.Unstructured
		equal bool
	}{
		{"no rule", nil, scaled, false},
		{"json pointer", []IgnoreRule{{Group: "apps", Kind: "Deployment", JSONPointers: []string{"/spec/replicas"}}}, scaled, true},
		{"rule for another kind", []IgnoreRule{{Kind: "ConfigMap", JSONPointers: []string{"/spec/replicas"}}}, scaled, false},
		{"rule for another name", []IgnoreRule{{Group: "apps", Kind: "Deployment", Name: "api", JSONPointers: []string{"/spec/replicas"}}}, scaled, false},
		{"jq path expression", []IgnoreRule{{Group: "apps", Kind: "Deployment",
			JQPathExpressions: []string{`.spec.template.spec.containers[] | select(.name == "web") | .env`}}}, envChanged, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ig, err := CompileIgnoreRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			if eq, err := Equal(obj(t, live), tt.other, ig); err != nil || eq != tt.equal {
				t.Errorf("equal = %v (err %v), want %v", eq, err, tt.equal)
			}
		})
	}
}

func TestCompileIgnoreRulesNamesTheBadExpression(t *testing.T) {
	_, err := CompileIgnoreRules([]IgnoreRule{{Kind: "Deployment", JQPathExpressions: []string{".spec[["}}})
	if err == nil || !strings.Contains(err.Error(), "ignoreDifferences[0].jqPathExpressions") {
		t.Errorf("err = %v", err)
	}
	_, err = CompileIgnoreRules([]IgnoreRule{{Kind: "Deployment", JSONPointers: []string{"spec/replicas"}}})
	if err == nil || !strings.Contains(err.Error(), "must start with /") {
		t.Errorf("err = %v", err)
	}
}

func TestCopySelectedKeepsLiveValues(t *testing.T) {
	ig, err := CompileIgnoreRules([]IgnoreRule{{Group: "apps", Kind: "Deployment",
		JSONPointers:      []string{"/spec/replicas", "/spec/paused"},
		JQPathExpressions: []string{`.spec.template.spec.containers[0].env`}}})
	if err != nil {
		t.Fatal(err)
	}
	desired := obj(t, `
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  replicas: 2
  paused: true
  template:
    spec:
      containers:
        - {name: web, image: "web:2", env: [{name: A, value: "9"}]}
`)
	if err := ig.CopySelected(obj(t, live), desired); err != nil {
		t.Fatal(err)
	}
	replicas, _, _ := unstructured.NestedInt64(desired.Object, "spec", "replicas")
	_, hasPaused, _ := unstructured.NestedBool(desired.Object, "spec", "paused")
	containers, _, _ := unstructured.NestedSlice(desired.Object, "spec", "template", "spec", "containers")
	c := containers[0].(map[string]any)
	env := c["env"].([]any)[0].(map[string]any)
	if replicas != 5 || hasPaused || env["value"] != "1" || c["image"] != "web:2" {
		t.Errorf("after CopySelected: replicas=%d paused present=%v env=%v image=%v; want 5, false, 1, web:2", replicas, hasPaused, env["value"], c["image"])
	}
}

func FuzzParsePointer(f *testing.F) {
	f.Add("/spec/replicas")
	f.Add("/a~1b/~0c/0")
	f.Fuzz(func(t *testing.T, p string) {
		tokens, err := parsePointer(p)
		if err != nil {
			return
		}
		removePath(map[string]any{"spec": map[string]any{"replicas": int64(1)}, "a": []any{1}}, tokens)
	})
}

func TestManagedFieldsManagers(t *testing.T) {
	withManagers := live + `
`
	l := obj(t, withManagers)
	l.SetManagedFields(nil)
	entries := `[
 {"manager":"ferry","operation":"Apply","apiVersion":"apps/v1","fieldsType":"FieldsV1",
  "fieldsV1":{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}}}}}}},
 {"manager":"hpa","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1",
  "fieldsV1":{"f:spec":{"f:replicas":{}}}},
 {"manager":"injector","operation":"Update","apiVersion":"apps/v1","fieldsType":"FieldsV1",
  "fieldsV1":{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}}}}}}}}}
]`
	var mf []any
	if err := yaml.Unmarshal([]byte(entries), &mf); err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedSlice(l.Object, mf, "metadata", "managedFields"); err != nil {
		t.Fatal(err)
	}
	predicted := obj(t, strings.Replace(strings.Replace(live, "replicas: 5\n", "replicas: 2\n", 1), `value: "1"`, `value: "2"`, 1))
	for _, tt := range []struct {
		managers []string
		equal    bool
	}{
		{nil, false},
		{[]string{"hpa"}, false}, // env still differs
		{[]string{"hpa", "injector"}, true},
		{[]string{"someone-else"}, false},
	} {
		ig, err := CompileIgnoreRules([]IgnoreRule{{Group: "apps", Kind: "Deployment", ManagedFieldsManagers: tt.managers}})
		if err != nil {
			t.Fatal(err)
		}
		if eq, err := Equal(l, predicted, ig); err != nil || eq != tt.equal {
			t.Errorf("managers %v: equal = %v (err %v), want %v", tt.managers, eq, err, tt.equal)
		}
	}
	// RespectIgnoreDifferences: the owned values are kept from live.
	ig, _ := CompileIgnoreRules([]IgnoreRule{{Group: "apps", Kind: "Deployment", ManagedFieldsManagers: []string{"hpa"}}})
	desired := predicted.DeepCopy()
	if err := ig.CopySelected(l, desired); err != nil {
		t.Fatal(err)
	}
	if r, _, _ := unstructured.NestedInt64(desired.Object, "spec", "replicas"); r != 5 {
		t.Errorf("replicas after CopySelected = %d, want the hpa's 5", r)
	}
}

// TestMaskSecret checks that no value of a Secret survives masking: data,
// stringData (a Secret not created yet) and kubectl's last-applied
// annotation, on both sides; changed keys stay distinguishable.
func TestMaskSecret(t *testing.T) {
	const token = "tok3n-XYZ"
	secret := func(data, stringData map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Secret",
			"metadata": map[string]any{"name": "s", "namespace": "ns", "annotations": map[string]any{
				lastApplied: `{"apiVersion":"v1","kind":"Secret","stringData":{"password":"` + token + `"}}`, "team": "a"}}}}
		if data != nil {
			u.Object["data"] = data
		}
		if stringData != nil {
			u.Object["stringData"] = stringData
		}
		return u
	}
	live := secret(map[string]any{"password": "b2xk", "same": "c2FtZQ=="}, nil)
	predicted := secret(map[string]any{"password": "bmV3", "same": "c2FtZQ==", "added": token}, map[string]any{"extra": token})
	if err := maskSecret(live, predicted); err != nil {
		t.Fatal(err)
	}
	for name, obj := range map[string]*unstructured.Unstructured{"live": live, "predicted": predicted} {
		b, err := json.Marshal(obj.Object)
		if err != nil {
			t.Fatal(err)
		}
		for _, leak := range []string{token, "b2xk", "bmV3", "c2FtZQ=="} {
			if strings.Contains(string(b), leak) {
				t.Errorf("%s still holds %q: %s", name, leak, b)
			}
		}
		if obj.GetAnnotations()["team"] != "a" {
			t.Errorf("%s lost an ordinary annotation: %v", name, obj.GetAnnotations())
		}
	}
	if live.Object["data"].(map[string]any)["password"] == live.Object["data"].(map[string]any)["same"] {
		t.Errorf("a changed key is masked like an unchanged one: %v", live.Object["data"])
	}
	missing := secret(nil, map[string]any{"password": token})
	if err := maskSecret(nil, missing); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(missing.Object); strings.Contains(string(b), token) {
		t.Errorf("a Secret not created yet keeps its stringData: %s", b)
	}
}
