package project

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestOrphanIgnored(t *testing.T) {
	key := func(group, kind, name string) v1alpha1.OrphanedResourceKey {
		return v1alpha1.OrphanedResourceKey{Group: group, Kind: kind, Name: name}
	}
	tests := []struct {
		name     string
		settings *v1alpha1.OrphanedResourcesMonitorSettings
		gk       schema.GroupKind
		objName  string
		want     bool
	}{
		{"no settings", nil, configMap, "cfg", false},
		{"no ignore entries", &v1alpha1.OrphanedResourcesMonitorSettings{}, configMap, "cfg", false},
		{"empty entry ignores all", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{{}}}, deployment, "web", true},
		{"kind", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "ConfigMap", "")}}, configMap, "cfg", true},
		{"other kind", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "ConfigMap", "")}}, secret, "cfg", false},
		{"empty group matches any group", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "Deployment", "")}}, deployment, "web", true},
		{"group", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("apps", "*", "")}}, deployment, "web", true},
		{"other group", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("batch", "*", "")}}, deployment, "web", false},
		{"group glob", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("*.k8s.io", "", "")}}, clusterRole, "admin", true},
		{"name glob", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "Secret", "sh.helm.release.*")}}, secret, "sh.helm.release.v1.web.v3", true},
		{"name glob, other name", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "Secret", "sh.helm.release.*")}}, secret, "token", false},
		{"name glob, other kind", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "Secret", "sh.helm.release.*")}}, configMap, "sh.helm.release.v1", false},
		{"second entry", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "Secret", ""), key("", "ConfigMap", "kube-root-ca.crt")}}, configMap, "kube-root-ca.crt", true},
		{"malformed pattern matches nothing", &v1alpha1.OrphanedResourcesMonitorSettings{Ignore: []v1alpha1.OrphanedResourceKey{key("", "[", "")}}, configMap, "cfg", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proj(v1alpha1.AppProjectSpec{OrphanedResources: tt.settings})
			if got := OrphanIgnored(p, tt.gk, tt.objName); got != tt.want {
				t.Errorf("OrphanIgnored(%v, %q) = %v, want %v", tt.gk, tt.objName, got, tt.want)
			}
		})
	}
}
