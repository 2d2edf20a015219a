package project

import (
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// KindPermitted reports whether the project lets an Application manage an
// object of kind gk named name (Argo CD's IsGroupKindNamePermitted).
//
// Namespaced kinds are allowed by an absent namespaceResourceWhitelist and
// by none when it is present but empty; a cluster-scoped kind must be in a
// non-empty clusterResourceWhitelist. Either kind of object is refused when
// its blacklist names it.
func KindPermitted(p *v1alpha1.AppProject, gk schema.GroupKind, name string, namespaced bool) bool {
	whitelisted, blacklisted := kindListed(p, gk, name, namespaced)
	return whitelisted && !blacklisted
}

// kindListed says whether gk (and name) is whitelisted and whether it is
// blacklisted, so that a refusal can name the list that refused.
func kindListed(p *v1alpha1.AppProject, gk schema.GroupKind, name string, namespaced bool) (whitelisted, blacklisted bool) {
	s := &p.Spec
	if namespaced {
		wl, bl := s.NamespaceResourceWhitelist, s.NamespaceResourceBlacklist
		whitelisted = wl == nil || (len(wl) != 0 && kindInList(gk, wl))
		blacklisted = len(bl) != 0 && kindInList(gk, bl)
		return whitelisted, blacklisted
	}
	wl, bl := s.ClusterResourceWhitelist, s.ClusterResourceBlacklist
	whitelisted = len(wl) != 0 && kindInNamedList(gk, name, wl)
	blacklisted = len(bl) != 0 && kindInNamedList(gk, name, bl)
	return whitelisted, blacklisted
}

// kindInList reports whether an item of list matches gk. Group and kind are
// matched with filepath.Match, as Argo CD does, so "*" matches any group
// including the core group "".
func kindInList(gk schema.GroupKind, list []v1alpha1.GroupKind) bool {
	for _, item := range list {
		if fileMatch(item.Kind, gk.Kind) && fileMatch(item.Group, gk.Group) {
			return true
		}
	}
	return false
}

// kindInNamedList is kindInList for the cluster lists, whose items may
// also narrow the match to object names.
func kindInNamedList(gk schema.GroupKind, name string, list []v1alpha1.ClusterResourceRestrictionItem) bool {
	for _, item := range list {
		if fileMatch(item.Kind, gk.Kind) && fileMatch(item.Group, gk.Group) &&
			(item.Name == "" || fileMatch(item.Name, name)) {
			return true
		}
	}
	return false
}

// fileMatch is filepath.Match with a malformed pattern matching nothing.
func fileMatch(pattern, s string) bool {
	ok, err := filepath.Match(pattern, s)
	return ok && err == nil
}
