package project

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// OrphanIgnored reports whether the project's orphanedResources.ignore
// names an object of kind gk called name, so that it is never reported as
// orphaned: an entry's group, kind and name are globs, and an empty one
// matches anything.
func OrphanIgnored(p *v1alpha1.AppProject, gk schema.GroupKind, name string) bool {
	if p.Spec.OrphanedResources == nil {
		return false
	}
	for _, item := range p.Spec.OrphanedResources.Ignore {
		if (item.Group == "" || match(item.Group, gk.Group)) &&
			(item.Kind == "" || match(item.Kind, gk.Kind)) &&
			(item.Name == "" || match(item.Name, name)) {
			return true
		}
	}
	return false
}
