package sync

import (
	"slices"
	"strings"
	"testing"
	"time"

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
		name                                    string
		in                                      PlanInput
		apply, create, prune, needs, kept, held []Key
		shared                                  []Shared
		denied                                  []Denied
		refused                                 bool
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
		{
			name: "Prune=confirm is held without a request, the other prune goes",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}, key("gone"): {Owner: "app"}}},
			apply: []Key{key("a")}, prune: []Key{key("gone")}, held: []Key{key("db")},
		},
		{
			name: "Prune=confirm is held when never approved",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live:         map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}},
				Confirmation: Confirmation{Requested: []Key{key("db")}, RequestedAt: t0}},
			apply: []Key{key("a")}, held: []Key{key("db")},
		},
		{
			name: "approval newer than the request prunes",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live:         map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}, key("gone"): {Owner: "app"}},
				Confirmation: Confirmation{Requested: []Key{key("db")}, RequestedAt: t0, ApprovedAt: t0.Add(time.Minute)}},
			apply: []Key{key("a")}, prune: []Key{key("db"), key("gone")},
		},
		{
			name: "stale approval, older than the request, does not count",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live:         map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}},
				Confirmation: Confirmation{Requested: []Key{key("db")}, RequestedAt: t0, ApprovedAt: t0.Add(-time.Minute)}},
			apply: []Key{key("a")}, held: []Key{key("db")},
		},
		{
			name: "approval in the second of the request does not count",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live:         map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}},
				Confirmation: Confirmation{Requested: []Key{key("db")}, RequestedAt: t0.Add(300 * time.Millisecond), ApprovedAt: t0.Add(900 * time.Millisecond)}},
			apply: []Key{key("a")}, held: []Key{key("db")},
		},
		{
			name: "approval covers only the objects it was asked about",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}, key("new"): {Owner: "app", PruneConfirm: true},
					key("gone"): {Owner: "app"}},
				Confirmation: Confirmation{Requested: []Key{key("db")}, RequestedAt: t0, ApprovedAt: t0.Add(time.Minute)}},
			apply: []Key{key("a")}, prune: []Key{key("db"), key("gone")}, held: []Key{key("new")},
		},
		{
			name: "Prune=false wins over Prune=confirm, even approved",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live:         map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true, PruneDisabled: true}},
				Confirmation: Confirmation{Requested: []Key{key("db")}, RequestedAt: t0, ApprovedAt: t0.Add(time.Minute)}},
			apply: []Key{key("a")}, kept: []Key{key("db")},
		},
		{
			name: "without pruning Prune=confirm only requires pruning: nothing to confirm",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a},
				Live: map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}}},
			apply: []Key{key("a")}, needs: []Key{key("db")},
		},
		{
			name: "a project denial wins over confirmation",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live:     map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}},
				MayPrune: func(Key) string { return "denied" }},
			apply: []Key{key("a")}, denied: []Denied{{Key: key("db"), Reason: "denied"}},
		},
		{
			name: "combined lists, each sorted",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true,
				Live: map[Key]LiveInfo{
					key("h2"): {Owner: "app", PruneConfirm: true}, key("h1"): {Owner: "app", PruneConfirm: true},
					key("ok"): {Owner: "app", PruneConfirm: true}, key("p2"): {Owner: "app"}, key("p1"): {Owner: "app"},
					key("k1"): {Owner: "app", PruneDisabled: true}, key("k2"): {Owner: "app", PruneDisabled: true, PruneConfirm: true},
					key("d1"): {Owner: "app", PruneConfirm: true}, key("theirs"): {Owner: "other", PruneConfirm: true}},
				MayPrune: func(k Key) string {
					if k.Name == "d1" {
						return "denied"
					}
					return ""
				},
				Confirmation: Confirmation{Requested: []Key{key("ok"), key("d1"), key("k2")}, RequestedAt: t0, ApprovedAt: t0.Add(time.Minute)}},
			apply: []Key{key("a")}, prune: []Key{key("ok"), key("p1"), key("p2")}, held: []Key{key("h1"), key("h2")},
			kept: []Key{key("k1"), key("k2")}, denied: []Denied{{Key: key("d1"), Reason: "denied"}},
		},
		{
			name: "selective sync holds only the named objects",
			in: PlanInput{App: "app", Desired: []*unstructured.Unstructured{a}, Prune: true, Only: []Key{key("h1")},
				Live: map[Key]LiveInfo{key("h1"): {Owner: "app", PruneConfirm: true}, key("h2"): {Owner: "app", PruneConfirm: true}}},
			held: []Key{key("h1")},
		},
		{
			name: "empty render: held objects are among those it refuses to prune",
			in: PlanInput{App: "app", Prune: true,
				Live: map[Key]LiveInfo{key("a"): {Owner: "app"}, key("db"): {Owner: "app", PruneConfirm: true}}},
			needs: []Key{key("a"), key("db")}, refused: true,
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
			if !slices.Equal(p.Held, tt.held) {
				t.Errorf("held = %v, want %v", p.Held, tt.held)
			}
			if !slices.Equal(p.Denied, tt.denied) {
				t.Errorf("denied = %v, want %v", p.Denied, tt.denied)
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

// t0 is a request time; approvals are set relative to it.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func TestPlanHeldObjectsAreNotPruneSteps(t *testing.T) {
	p := MakePlan(PlanInput{App: "app", Desired: []*unstructured.Unstructured{cm("staging", "a")}, Prune: true,
		Live: map[Key]LiveInfo{key("db"): {Owner: "app", PruneConfirm: true}, key("gone"): {Owner: "app"}}})
	for _, s := range p.Steps {
		for _, task := range s.Tasks {
			if task.Key == key("db") {
				t.Errorf("held object in step %+v", s)
			}
		}
	}
}

func TestApproved(t *testing.T) {
	tests := []struct {
		name                string
		approved, requested time.Time
		want                bool
	}{
		{"newer", t0.Add(time.Second), t0, true},
		{"much newer, other zone", t0.Add(time.Hour).In(time.FixedZone("x", 3600)), t0, true},
		{"same second", t0.Add(999 * time.Millisecond), t0.Add(time.Millisecond), false},
		{"equal", t0, t0, false},
		{"older", t0.Add(-time.Hour), t0, false},
		{"no approval", time.Time{}, t0, false},
		{"no request", t0, time.Time{}, false},
	}
	for _, tt := range tests {
		if got := Approved(tt.approved, tt.requested); got != tt.want {
			t.Errorf("%s: Approved(%v, %v) = %v, want %v", tt.name, tt.approved, tt.requested, got, tt.want)
		}
	}
	c := Confirmation{Requested: []Key{key("db")}, RequestedAt: t0, ApprovedAt: t0.Add(time.Minute)}
	if !c.Approves(key("db")) || c.Approves(key("other")) {
		t.Errorf("Confirmation %+v: approves db %v, other %v; want true, false", c, c.Approves(key("db")), c.Approves(key("other")))
	}
}

func TestPlanDeletion(t *testing.T) {
	deleted := t0 // the Application's deletionTimestamp
	live := map[Key]LiveInfo{
		key("plain"):   {Owner: "app"},
		key("pconf"):   {Owner: "app", PruneConfirm: true},
		key("dconf"):   {Owner: "app", DeleteConfirm: true},
		key("keep"):    {Owner: "app", DeleteDisabled: true, DeleteConfirm: true},
		key("noprune"): {Owner: "app", PruneDisabled: true},
		key("theirs"):  {Owner: "other", DeleteConfirm: true},
		key("nobody"):  {},
		key("denied"):  {Owner: "app", DeleteConfirm: true},
	}
	mayDelete := func(k Key) string {
		if k.Name == "denied" {
			return "not permitted"
		}
		return ""
	}
	denied := []Denied{{Key: key("denied"), Reason: "not permitted"}}
	tests := []struct {
		name            string
		approvedAt      time.Time
		del, kept, held []Key
	}{
		{name: "no approval: confirm objects wait, the rest go",
			del: []Key{key("noprune"), key("plain")}, kept: []Key{key("keep")}, held: []Key{key("dconf"), key("pconf")}},
		{name: "approval older than the deletion does not count", approvedAt: deleted.Add(-time.Minute),
			del: []Key{key("noprune"), key("plain")}, kept: []Key{key("keep")}, held: []Key{key("dconf"), key("pconf")}},
		{name: "approval in the second of the deletion does not count", approvedAt: deleted.Add(500 * time.Millisecond),
			del: []Key{key("noprune"), key("plain")}, kept: []Key{key("keep")}, held: []Key{key("dconf"), key("pconf")}},
		{name: "approval newer than the deletion deletes them; Delete=false still wins", approvedAt: deleted.Add(time.Minute),
			del: []Key{key("dconf"), key("noprune"), key("pconf"), key("plain")}, kept: []Key{key("keep")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := PlanDeletion(DeletionInput{App: "app", Live: live, MayDelete: mayDelete, ApprovedAt: tt.approvedAt, RequestedAt: deleted})
			if !slices.Equal(p.Delete, tt.del) {
				t.Errorf("delete = %v, want %v", p.Delete, tt.del)
			}
			if !slices.Equal(p.Kept, tt.kept) {
				t.Errorf("kept = %v, want %v", p.Kept, tt.kept)
			}
			if !slices.Equal(p.Held, tt.held) {
				t.Errorf("held = %v, want %v", p.Held, tt.held)
			}
			if !slices.Equal(p.Denied, denied) {
				t.Errorf("denied = %v, want %v", p.Denied, denied)
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
