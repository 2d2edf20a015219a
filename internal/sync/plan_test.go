package sync

import (
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func cm(ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

func key(name string) Key { return Key{Kind: "ConfigMap", Namespace: "staging", Name: name} }

func keysOf(objs []*unstructured.Unstructured) []Key {
	var keys []Key
	for _, o := range objs {
		keys = append(keys, KeyOf(o))
	}
	return keys
}

func TestMakePlan(t *testing.T) {
	a, b := cm("staging", "a"), cm("staging", "b")
	tests := []struct {
		name                              string
		in                                PlanInput
		apply, create, prune, needs, kept []Key
		shared                            []Shared
		refused                           bool
	}{
		{
			name:   "new objects are applied",
			in:     PlanInput{App: "app", Desired: []*unstructured.Unstructured{a, b}},
			apply:  []Key{key("a"), key("b")},
			create: []Key{key("a"), key("b")},
		},
		{
			name: "removed object pruned when pruning is on",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{key("a"): {Owner: "app"}, key("gone"): {Owner: "app"}}},
			apply: []Key{key("a")}, create: []Key{}, prune: []Key{key("gone")},
		},
		{
			name: "removed object only reported without pruning",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a},
				Live: map[Key]LiveInfo{key("gone"): {Owner: "app"}}},
			apply: []Key{key("a")}, needs: []Key{key("gone")},
		},
		{
			name: "object owned by another app is neither applied nor pruned",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{key("a"): {Owner: "other"}, key("theirs"): {Owner: "other"}}},
			shared: []Shared{{Key: key("a"), Owner: "other"}},
		},
		{
			name: "unowned live object is adopted, not pruned",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{key("a"): {}, key("stranger"): {}}},
			apply: []Key{key("a")},
		},
		{
			name: "Prune=false is honoured",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{key("keep"): {Owner: "app", PruneDisabled: true}}},
			apply: []Key{key("a")}, kept: []Key{key("keep")},
		},
		{
			name: "empty render refuses to prune everything",
			in: PlanInput{App: "app", Prune: true,
				Live: map[Key]LiveInfo{key("a"): {Owner: "app"}, key("b"): {Owner: "app"}}},
			needs: []Key{key("a"), key("b")}, refused: true,
		},
		{
			name: "empty render with allowEmpty prunes",
			in: PlanInput{App: "app", Prune: true, AllowEmpty: true,
				Live: map[Key]LiveInfo{key("a"): {Owner: "app"}}},
			prune: []Key{key("a")},
		},
		{
			name: "selective sync touches only the named objects",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a, b}, Prune: true, Only: []Key{key("b"), key("old2")},
				Live: map[Key]LiveInfo{key("old1"): {Owner: "app"}, key("old2"): {Owner: "app"}}},
			apply: []Key{key("b")}, prune: []Key{key("old2")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := MakePlan(tt.in)
			if got := keysOf(p.Objects()); !slices.Equal(got, tt.apply) {
				t.Errorf("apply = %v, want %v", got, tt.apply)
			}
			if got := keysOf(p.Create); tt.create != nil && !slices.Equal(got, tt.create) {
				t.Errorf("create = %v, want %v", got, tt.create)
			}
			if !slices.Equal(p.Prune, tt.prune) {
				t.Errorf("prune = %v, want %v", p.Prune, tt.prune)
			}
			if !slices.Equal(p.RequiresPruning, tt.needs) {
				t.Errorf("requires pruning = %v, want %v", p.RequiresPruning, tt.needs)
			}
			if !slices.Equal(p.Kept, tt.kept) {
				t.Errorf("kept = %v, want %v", p.Kept, tt.kept)
			}
			if !slices.Equal(p.Shared, tt.shared) {
				t.Errorf("shared = %v, want %v", p.Shared, tt.shared)
			}
			if (p.Refusal != "") != tt.refused {
				t.Errorf("refusal = %q, want refused=%v", p.Refusal, tt.refused)
			}
		})
	}
}

func TestPrepare(t *testing.T) {
	scope := func(gvk schema.GroupVersionKind) (bool, error) {
		switch gvk.Kind {
		case "Namespace", "ClusterRole":
			return false, nil
		case "ConfigMap", "Deployment":
			return true, nil
		}
		return false, &unknownKind{gvk.Kind}
	}
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName("myapp")
	ns.SetNamespace("wrong")
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.example.com"},
		"spec":     map[string]any{"group": "example.com", "scope": "Namespaced", "names": map[string]any{"kind": "Widget"}},
	}}
	widget := &unstructured.Unstructured{}
	widget.SetAPIVersion("example.com/v1")
	widget.SetKind("Widget")
	widget.SetName("w")
	in := []*unstructured.Unstructured{cm("", "defaulted"), cm("other", "explicit"), ns, crd, widget}

	out, err := Prepare("app", "staging", in, func(gvk schema.GroupVersionKind) (bool, error) {
		if gvk.Kind == "CustomResourceDefinition" {
			return false, nil
		}
		return scope(gvk)
	})
	if err != nil {
		t.Fatal(err)
	}
	wantNS := []string{"staging", "other", "", "", "staging"}
	for i, o := range out {
		if o.GetNamespace() != wantNS[i] {
			t.Errorf("%s: namespace %q, want %q", o.GetName(), o.GetNamespace(), wantNS[i])
		}
		if got, want := o.GetAnnotations()[TrackingAnnotation], TrackingID("app", KeyOf(o)); got != want {
			t.Errorf("%s: tracking %q, want %q", o.GetName(), got, want)
		}
	}
	if in[0].GetNamespace() != "" || in[0].GetAnnotations() != nil {
		t.Error("Prepare modified its input")
	}

	if _, err := Prepare("app", "staging", []*unstructured.Unstructured{cm("", "a"), cm("staging", "a")}, scope); err == nil || !strings.Contains(err.Error(), "more than once") {
		t.Errorf("duplicate object: err = %v", err)
	}
	if _, err := Prepare("app", "", []*unstructured.Unstructured{cm("", "a")}, scope); err == nil || !strings.Contains(err.Error(), "ConfigMap a") {
		t.Errorf("no namespace anywhere: err = %v", err)
	}
	if _, err := Prepare("app", "staging", []*unstructured.Unstructured{widget}, scope); err == nil || !strings.Contains(err.Error(), "Widget w") {
		t.Errorf("unknown kind: err = %v", err)
	}
}

type unknownKind struct{ kind string }

func (u *unknownKind) Error() string { return "no matches for kind " + u.kind }
