package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApplicationSetKind is the kind of ApplicationSet.
const ApplicationSetKind = "ApplicationSet"

// ApplicationSet generates Applications from a template and generators
// (list, clusters, git, matrix, merge), as Argo CD's ApplicationSet
// controller does.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=appset;appsets
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="ResourcesUpToDate")].status`
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.conditions[?(@.type=="ErrorOccurred")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ApplicationSet struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ApplicationSetSpec   `json:"spec"`
	Status            ApplicationSetStatus `json:"status,omitempty"`
}

// ApplicationSetList is a list of ApplicationSets.
//
// +kubebuilder:object:root=true
type ApplicationSetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApplicationSet `json:"items"`
}

// ApplicationSetSpec is what to generate.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSetSpec struct {
	// GoTemplate renders the template with Go's text/template and sprig
	// instead of the default {{param}} substitution.
	// +optional
	GoTemplate bool `json:"goTemplate,omitempty"`
	// GoTemplateOptions are text/template options, e.g. missingkey=error.
	// +optional
	GoTemplateOptions []string `json:"goTemplateOptions,omitempty"`
	// Generators produce the parameter sets, one Application each. Their
	// schema is Argo CD's (list, clusters, git, matrix, merge, selector);
	// Ferry reads them itself, so they are kept as written.
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	Generators []apiextensionsv1.JSON `json:"generators"`
	// Template is the Application each parameter set renders.
	Template ApplicationSetTemplate `json:"template"`
	// TemplatePatch is a template rendered with each parameter set and
	// merged into the rendered Application (goTemplate only).
	// +optional
	TemplatePatch *string `json:"templatePatch,omitempty"`
	// SyncPolicy says what happens to generated Applications.
	// +optional
	SyncPolicy *ApplicationSetSyncPolicy `json:"syncPolicy,omitempty"`
}

// ApplicationSetTemplate is an Application with template strings.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSetTemplate struct {
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Metadata apiextensionsv1.JSON `json:"metadata"`
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	Spec apiextensionsv1.JSON `json:"spec"`
}

// ApplicationSetSyncPolicy controls the generated Applications' lifecycle.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSetSyncPolicy struct {
	// PreserveResourcesOnDeletion keeps an Application's resources when the
	// ApplicationSet deletes the Application (no cascading finalizer).
	// +optional
	PreserveResourcesOnDeletion bool `json:"preserveResourcesOnDeletion,omitempty"`
	// ApplicationsSync limits what the controller does to Applications:
	// create-only, create-update, create-delete or sync (the default: all).
	// +optional
	// +kubebuilder:validation:Enum=create-only;create-update;create-delete;sync
	ApplicationsSync string `json:"applicationsSync,omitempty"`
}

// ApplicationSetStatus reports the last generation.
type ApplicationSetStatus struct {
	// Conditions: ErrorOccurred, ParametersGenerated, ResourcesUpToDate.
	// +optional
	Conditions []ApplicationSetCondition `json:"conditions,omitempty"`
	// Resources are the generated Applications with their sync and health.
	// +optional
	Resources []ResourceStatus `json:"resources,omitempty"`
}

// ApplicationSetCondition is one condition, in Argo CD's shape.
type ApplicationSetCondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Message string `json:"message"`
	// +optional
	Reason string `json:"reason,omitempty"`
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

func init() {
	SchemeBuilder.Register(&ApplicationSet{}, &ApplicationSetList{})
}
