package project

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

var (
	deployment  = schema.GroupKind{Group: "apps", Kind: "Deployment"}
	configMap   = schema.GroupKind{Kind: "ConfigMap"}
	secret      = schema.GroupKind{Kind: "Secret"}
	clusterRole = schema.GroupKind{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}
	crd         = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}
	namespace   = schema.GroupKind{Kind: "Namespace"}
)

func TestKindPermitted(t *testing.T) {
	gks := func(items ...string) []v1alpha1.GroupKind {
		out := []v1alpha1.GroupKind{}
		for i := 0; i < len(items); i += 2 {
			out = append(out, v1alpha1.GroupKind{Group: items[i], Kind: items[i+1]})
		}
		return out
	}
	items := func(items ...string) []v1alpha1.ClusterResourceRestrictionItem {
		out := []v1alpha1.ClusterResourceRestrictionItem{}
		for i := 0; i < len(items); i += 3 {
			out = append(out, v1alpha1.ClusterResourceRestrictionItem{Group: items[i], Kind: items[i+1], Name: items[i+2]})
		}
		return out
	}
	tests := []struct {
		name       string
		spec       v1alpha1.AppProjectSpec
		gk         schema.GroupKind
		objName    string
		namespaced bool
		want       bool
	}{
		{"nil namespace whitelist allows all", v1alpha1.AppProjectSpec{}, deployment, "web", true, true},
		{"empty namespace whitelist allows none", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks()}, deployment, "web", true, false},
		{"namespace whitelist names it", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("apps", "Deployment")}, deployment, "web", true, true},
		{"namespace whitelist names another", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("apps", "StatefulSet")}, deployment, "web", true, false},
		{"namespace whitelist other group", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("", "Deployment")}, deployment, "web", true, false},
		{"namespace whitelist star group", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("*", "Deployment")}, deployment, "web", true, true},
		{"star group matches core", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("*", "*")}, configMap, "cfg", true, true},
		{"kind glob", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("", "Config*")}, configMap, "cfg", true, true},
		{"group glob", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("*.k8s.io", "*", "")}, clusterRole, "admin", false, true},
		{"namespace blacklist", v1alpha1.AppProjectSpec{NamespaceResourceBlacklist: gks("", "Secret")}, secret, "s", true, false},
		{"namespace blacklist other kind", v1alpha1.AppProjectSpec{NamespaceResourceBlacklist: gks("", "Secret")}, configMap, "cfg", true, true},
		{"blacklist beats whitelist", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("*", "*"), NamespaceResourceBlacklist: gks("", "Secret")}, secret, "s", true, false},
		{"empty blacklist refuses nothing", v1alpha1.AppProjectSpec{NamespaceResourceBlacklist: gks()}, secret, "s", true, true},
		{"namespaced ignores cluster whitelist", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("", "Secret", "")}, secret, "s", true, true},

		{"no cluster whitelist allows none", v1alpha1.AppProjectSpec{}, clusterRole, "admin", false, false},
		{"empty cluster whitelist allows none", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items()}, clusterRole, "admin", false, false},
		{"cluster whitelist star", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("*", "*", "")}, clusterRole, "admin", false, true},
		{"cluster whitelist kind", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("", "Namespace", "")}, namespace, "web", false, true},
		{"cluster whitelist other kind", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("", "Namespace", "")}, clusterRole, "admin", false, false},
		{"cluster-scoped ignores namespace whitelist", v1alpha1.AppProjectSpec{NamespaceResourceWhitelist: gks("*", "*")}, clusterRole, "admin", false, false},
		{"named item, that name", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("rbac.authorization.k8s.io", "ClusterRole", "team-a-*")}, clusterRole, "team-a-view", false, true},
		{"named item, other name", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("rbac.authorization.k8s.io", "ClusterRole", "team-a-*")}, clusterRole, "admin", false, false},
		{"named item, exact name", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("", "Namespace", "web")}, namespace, "web", false, true},
		{"cluster blacklist", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("*", "*", ""), ClusterResourceBlacklist: items("apiextensions.k8s.io", "*", "")}, crd, "foos.example.com", false, false},
		{"named cluster blacklist, that name", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("*", "*", ""), ClusterResourceBlacklist: items("", "Namespace", "kube-*")}, namespace, "kube-system", false, false},
		{"named cluster blacklist, other name", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("*", "*", ""), ClusterResourceBlacklist: items("", "Namespace", "kube-*")}, namespace, "web", false, true},
		{"malformed pattern matches nothing", v1alpha1.AppProjectSpec{ClusterResourceWhitelist: items("", "[", "")}, namespace, "web", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindPermitted(proj(tt.spec), tt.gk, tt.objName, tt.namespaced); got != tt.want {
				t.Errorf("KindPermitted(%v, %q, namespaced=%v) = %v, want %v", tt.gk, tt.objName, tt.namespaced, got, tt.want)
			}
		})
	}
}

func schemaGK(group, kind string) schema.GroupKind { return schema.GroupKind{Group: group, Kind: kind} }
