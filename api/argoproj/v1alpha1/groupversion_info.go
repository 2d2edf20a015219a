package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is argoproj.io/v1alpha1, the group and version Argo CD
	// serves Application and AppProject under.
	GroupVersion = schema.GroupVersion{Group: "argoproj.io", Version: "v1alpha1"}

	// SchemeBuilder registers this package's types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds Application, AppProject and their lists to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// Kinds served by this group version.
const (
	// ApplicationKind is the kind of Application.
	ApplicationKind = "Application"
	// AppProjectKind is the kind of AppProject.
	AppProjectKind = "AppProject"
)
