package install

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFerrysOwn: what keeps a namespace at uninstall, and what does not.
func TestFerrysOwn(t *testing.T) {
	obj := func(name string, labels map[string]string) *metav1.PartialObjectMetadata {
		return &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	deleting := obj("going", nil)
	deleting.DeletionTimestamp = &metav1.Time{}
	for _, tt := range []struct {
		kind string
		obj  *metav1.PartialObjectMetadata
		own  bool
	}{
		{"ServiceAccount", obj("default", nil), true},
		{"ConfigMap", obj("kube-root-ca.crt", nil), true},
		{"Lease", obj("ferry-controller", nil), true},
		{"Lease", obj("ferry-shard-a", nil), true},
		{"EndpointSlice", obj("ferry-controller-x7k2p", map[string]string{"kubernetes.io/service-name": Name}), true},
		{"Secret", deleting, true},
		{"Secret", obj("repo-gitops", nil), false},
		{"ConfigMap", obj("argocd-notifications-cm", nil), false},
		{"Lease", obj("someone-else", nil), false},
		{"Deployment", obj("argocd-server", nil), false},
	} {
		if got := ferrysOwn(tt.kind, tt.obj); got != tt.own {
			t.Errorf("%s %s: Ferry's own %v, want %v", tt.kind, tt.obj.Name, got, tt.own)
		}
	}
}
