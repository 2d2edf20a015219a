// Package v1 holds Flux's GitRepository, source.toolkit.fluxcd.io/v1, which
// an ImageUpdateAutomation's sourceRef names: the repository to clone,
// commit to and push to. Ferry serves the kind for that purpose only; it
// produces no artifact. Fields Ferry does not model are kept
// (x-kubernetes-preserve-unknown-fields).
//
// +kubebuilder:object:generate=true
// +groupName=source.toolkit.fluxcd.io
package v1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is source.toolkit.fluxcd.io/v1.
	GroupVersion = schema.GroupVersion{Group: "source.toolkit.fluxcd.io", Version: "v1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds GitRepository and its list to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func init() {
	SchemeBuilder.Register(&GitRepository{}, &GitRepositoryList{})
}
