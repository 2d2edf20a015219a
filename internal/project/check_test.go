package project

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestCheckObject(t *testing.T) {
	const prod = "https://prod.example.com"
	cluster := Destination{Server: prod, Name: "prod"}
	spec := v1alpha1.AppProjectSpec{
		Destinations:               []v1alpha1.ApplicationDestination{dest(prod, "", "team-a"), dest(prod, "", "team-a-*")},
		ClusterResourceWhitelist:   []v1alpha1.ClusterResourceRestrictionItem{{Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "team-a-*"}},
		ClusterResourceBlacklist:   []v1alpha1.ClusterResourceRestrictionItem{{Kind: "Namespace", Name: "team-a-frozen"}},
		NamespaceResourceBlacklist: []v1alpha1.GroupKind{{Kind: "ResourceQuota"}},
	}
	tests := []struct {
		name   string
		spec   v1alpha1.AppProjectSpec
		obj    Object
		want   Violation
		wantOK bool
	}{
		{"deployment in a destination", spec, Object{GroupKind: deployment, Namespace: "team-a", Name: "web", Namespaced: true}, Violation{}, true},
		{"deployment in a globbed destination", spec, Object{GroupKind: deployment, Namespace: "team-a-dev", Name: "web", Namespaced: true}, Violation{}, true},
		{"deployment in another namespace", spec, Object{GroupKind: deployment, Namespace: "other", Name: "web", Namespaced: true},
			Violation{RuleDestinations, "apps/Deployment other/web", `namespace "other" is not among project "team-a"'s destinations`}, false},
		// A hook (a Job, say) the manifests put in another namespace is checked like any object.
		{"hook-like job in another namespace", spec, Object{GroupKind: schemaGK("batch", "Job"), Namespace: "kube-system", Name: "migrate", Namespaced: true},
			Violation{RuleDestinations, "batch/Job kube-system/migrate", `namespace "kube-system" is not among project "team-a"'s destinations`}, false},
		{"blacklisted namespaced kind", spec, Object{GroupKind: schemaGK("", "ResourceQuota"), Namespace: "team-a", Name: "q", Namespaced: true},
			Violation{RuleNamespaceResourceBlacklist, "ResourceQuota team-a/q", `project "team-a" denies namespaced kind ResourceQuota`}, false},
		{"kind checked before namespace", spec, Object{GroupKind: schemaGK("", "ResourceQuota"), Namespace: "other", Name: "q", Namespaced: true},
			Violation{RuleNamespaceResourceBlacklist, "ResourceQuota other/q", `project "team-a" denies namespaced kind ResourceQuota`}, false},
		{"empty namespace whitelist", v1alpha1.AppProjectSpec{Destinations: spec.Destinations, NamespaceResourceWhitelist: []v1alpha1.GroupKind{}},
			Object{GroupKind: configMap, Namespace: "team-a", Name: "cfg", Namespaced: true},
			Violation{RuleNamespaceResourceWhitelist, "ConfigMap team-a/cfg", `project "team-a" does not allow namespaced kind ConfigMap`}, false},
		{"cluster-scoped kind not whitelisted", spec, Object{GroupKind: crd, Name: "foos.example.com"},
			Violation{RuleClusterResourceWhitelist, "apiextensions.k8s.io/CustomResourceDefinition foos.example.com",
				`project "team-a" does not allow cluster-scoped apiextensions.k8s.io/CustomResourceDefinition "foos.example.com"`}, false},
		{"named cluster item, that name", spec, Object{GroupKind: clusterRole, Name: "team-a-view"}, Violation{}, true},
		{"named cluster item, other name", spec, Object{GroupKind: clusterRole, Name: "admin"},
			Violation{RuleClusterResourceWhitelist, "rbac.authorization.k8s.io/ClusterRole admin",
				`project "team-a" does not allow cluster-scoped rbac.authorization.k8s.io/ClusterRole "admin"`}, false},
		{"namespace object in a destination", spec, Object{GroupKind: namespace, Name: "team-a"}, Violation{}, true},
		{"namespace object in a globbed destination", spec, Object{GroupKind: namespace, Name: "team-a-dev"}, Violation{}, true},
		{"namespace object outside the destinations", spec, Object{GroupKind: namespace, Name: "kube-system"},
			Violation{RuleDestinations, "Namespace kube-system", `namespace "kube-system" is not among project "team-a"'s destinations`}, false},
		{"blacklisted namespace object", spec, Object{GroupKind: namespace, Name: "team-a-frozen"},
			Violation{RuleClusterResourceBlacklist, "Namespace team-a-frozen", `project "team-a" denies cluster-scoped Namespace "team-a-frozen"`}, false},
		{"namespace object on a name-only destination", v1alpha1.AppProjectSpec{
			Destinations:             []v1alpha1.ApplicationDestination{dest("", "prod", "web")},
			ClusterResourceWhitelist: []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
		}, Object{GroupKind: namespace, Name: "web"}, Violation{}, true},
		{"other cluster-scoped kind needs no destination namespace", v1alpha1.AppProjectSpec{
			Destinations:             []v1alpha1.ApplicationDestination{dest(prod, "", "web")},
			ClusterResourceWhitelist: []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
		}, Object{GroupKind: clusterRole, Name: "admin"}, Violation{}, true},
		{"namespaced object on another cluster", v1alpha1.AppProjectSpec{
			Destinations: []v1alpha1.ApplicationDestination{dest("https://dev.example.com", "", "*")},
		}, Object{GroupKind: configMap, Namespace: "team-a", Name: "cfg", Namespaced: true},
			Violation{RuleDestinations, "ConfigMap team-a/cfg", `namespace "team-a" is not among project "team-a"'s destinations`}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := CheckObject(proj(tt.spec), cluster, tt.obj)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("CheckObject(%v) = %+v, %v; want %+v, %v", tt.obj, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	p := proj(v1alpha1.AppProjectSpec{
		Destinations:               []v1alpha1.ApplicationDestination{dest("*", "", "team-a")},
		NamespaceResourceBlacklist: []v1alpha1.GroupKind{{Kind: "Secret"}},
	})
	cluster := Destination{Server: "https://prod.example.com"}
	objs := []Object{
		{GroupKind: configMap, Namespace: "team-a", Name: "ok", Namespaced: true},
		{GroupKind: secret, Namespace: "team-a", Name: "s", Namespaced: true},
		{GroupKind: namespace, Name: "team-a"},
		{GroupKind: deployment, Namespace: "other", Name: "web", Namespaced: true},
	}
	want := []Violation{
		{RuleNamespaceResourceBlacklist, "Secret team-a/s", `project "team-a" denies namespaced kind Secret`},
		{RuleClusterResourceWhitelist, "Namespace team-a", `project "team-a" does not allow cluster-scoped Namespace "team-a"`},
		{RuleDestinations, "apps/Deployment other/web", `namespace "other" is not among project "team-a"'s destinations`},
	}
	if got := Check(p, cluster, objs); !reflect.DeepEqual(got, want) {
		t.Errorf("Check = %+v\nwant %+v", got, want)
	}
	if got := Check(p, cluster, objs[:1]); got != nil {
		t.Errorf("Check(permitted) = %+v, want nil", got)
	}
}

func TestDefault(t *testing.T) {
	p := Default("ferry")
	if p.Name != "default" || p.Namespace != "ferry" {
		t.Fatalf("Default = %s/%s, want ferry/default", p.Namespace, p.Name)
	}
	if p.Spec.NamespaceResourceWhitelist != nil {
		t.Errorf("namespaceResourceWhitelist = %v, want nil (all kinds)", p.Spec.NamespaceResourceWhitelist)
	}
	cluster := Destination{Server: "https://kubernetes.default.svc", Name: "in-cluster"}
	for _, o := range []Object{
		{GroupKind: deployment, Namespace: "any", Name: "web", Namespaced: true},
		{GroupKind: crd, Name: "foos.example.com"},
		{GroupKind: namespace, Name: "any"},
	} {
		if v, ok := CheckObject(p, cluster, o); !ok {
			t.Errorf("default project refuses %v: %v", o, v)
		}
	}
	if !SourcePermitted(p, "git@github.com:org/repo.git") {
		t.Error("default project refuses a source")
	}
	if !DestinationPermitted(p, Destination{Server: "https://x", Namespace: ""}) {
		t.Error("default project refuses cluster scope")
	}
}

func TestViolationString(t *testing.T) {
	tests := []struct {
		v    Violation
		want string
	}{
		{Violation{RuleDestinations, "apps/Deployment other/web", `namespace "other" is not among project "team-a"'s destinations`},
			`apps/Deployment other/web: namespace "other" is not among project "team-a"'s destinations (destinations)`},
		{Violation{RuleSourceRepos, "", `repository "https://x/y" is not among project "team-a"'s sourceRepos`},
			`repository "https://x/y" is not among project "team-a"'s sourceRepos (sourceRepos)`},
	}
	for _, tt := range tests {
		if got := tt.v.String(); got != tt.want {
			t.Errorf("String() = %s\nwant %s", got, tt.want)
		}
	}
}

func TestRefusedError(t *testing.T) {
	v := func(i int) Violation {
		return Violation{RuleDestinations, fmt.Sprintf("ConfigMap ns%d/c", i), fmt.Sprintf("namespace \"ns%d\" is not allowed", i)}
	}
	vs := func(n int) []Violation {
		var out []Violation
		for i := 1; i <= n; i++ {
			out = append(out, v(i))
		}
		return out
	}
	tests := []struct {
		name string
		n    int
		want string
	}{
		{"none", 0, `project "team-a" refuses`},
		{"one", 1, `project "team-a" refuses: ConfigMap ns1/c: namespace "ns1" is not allowed (destinations)`},
		{"five", 5, `project "team-a" refuses: ConfigMap ns1/c: namespace "ns1" is not allowed (destinations); ` +
			`ConfigMap ns2/c: namespace "ns2" is not allowed (destinations); ConfigMap ns3/c: namespace "ns3" is not allowed (destinations); ` +
			`ConfigMap ns4/c: namespace "ns4" is not allowed (destinations); ConfigMap ns5/c: namespace "ns5" is not allowed (destinations)`},
		{"seven", 7, `project "team-a" refuses: ConfigMap ns1/c: namespace "ns1" is not allowed (destinations); ` +
			`ConfigMap ns2/c: namespace "ns2" is not allowed (destinations); ConfigMap ns3/c: namespace "ns3" is not allowed (destinations); ` +
			`ConfigMap ns4/c: namespace "ns4" is not allowed (destinations); ConfigMap ns5/c: namespace "ns5" is not allowed (destinations); and 2 more`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &RefusedError{Project: "team-a", Violations: vs(tt.n)}
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %s\nwant %s", got, tt.want)
			}
		})
	}
}
