package appstate

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// DiscoverCapabilities reads what a cluster's Helm charts see of it: its
// version, and "group/version" and "group/version/Kind" for every resource
// it serves (what Argo CD passes to helm template as --kube-version and
// --api-versions). A group that fails discovery is left out, as kubectl
// does.
func DiscoverCapabilities(d discovery.DiscoveryInterface) (Capabilities, error) {
	v, err := d.ServerVersion()
	if err != nil {
		return Capabilities{}, fmt.Errorf("server version: %w", err)
	}
	_, lists, err := d.ServerGroupsAndResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return Capabilities{}, fmt.Errorf("discover API resources: %w", err)
	}
	caps := Capabilities{KubeVersion: v.GitVersion}
	for _, l := range lists {
		caps.APIVersions = append(caps.APIVersions, l.GroupVersion)
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if r.Kind != "" && !strings.Contains(r.Name, "/") { // not a subresource
				caps.APIVersions = append(caps.APIVersions, gv.String()+"/"+r.Kind)
			}
		}
	}
	slices.Sort(caps.APIVersions)
	caps.APIVersions = slices.Compact(caps.APIVersions)
	return caps, nil
}
