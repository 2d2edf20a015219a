// Package v1beta2 holds Flux's image automation API, image.toolkit.fluxcd.io:
// ImageRepository, ImagePolicy and ImageUpdateAutomation, as Ferry serves
// them.
//
// Flux serves these kinds at v1beta1 (the version of the example manifests
// in internal/examples), v1beta2 and v1.
// Ferry serves all three from one schema, the union of their fields, and
// stores v1beta2 (the CRDs are generated from these types, then the version
// is copied as v1beta1 and v1 by hack/crdversions): a manifest written for
// any of them is accepted verbatim, and fields a version renamed are both
// present (status.latestImage of v1beta2 and status.latestRef of v1). Specs
// keep fields Ferry does not model (x-kubernetes-preserve-unknown-fields),
// so nothing of a Flux manifest is lost.
//
// +kubebuilder:object:generate=true
// +groupName=image.toolkit.fluxcd.io
package v1beta2

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the storage version, image.toolkit.fluxcd.io/v1beta2.
	GroupVersion = schema.GroupVersion{Group: "image.toolkit.fluxcd.io", Version: "v1beta2"}

	// SchemeBuilder registers this package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds and their lists to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// ServedVersions are the versions of image.toolkit.fluxcd.io Ferry serves,
// all with this package's schema.
var ServedVersions = []string{"v1beta1", "v1beta2", "v1"}

func init() {
	SchemeBuilder.Register(&ImageRepository{}, &ImageRepositoryList{}, &ImagePolicy{}, &ImagePolicyList{},
		&ImageUpdateAutomation{}, &ImageUpdateAutomationList{})
}
