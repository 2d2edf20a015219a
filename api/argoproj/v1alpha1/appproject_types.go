package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AppProject is Argo CD's AppProject: the guard rails for a group of
// Applications, saying which repositories they may deploy from, which
// clusters and namespaces they may deploy to, and which kinds of resource
// they may manage.
//
// Like Application it has the status subresource, so that re-applying a
// project's manifest never touches what the controller reports. Argo CD's
// roles, sync windows and orphaned-resource settings are kept but not
// modelled.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=appprojects,shortName=appproj;appprojs
// +kubebuilder:subresource:status
type AppProject struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta is the standard object metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what the project's applications may do.
	// +required
	Spec AppProjectSpec `json:"spec"`
	// Status is what the controller reports about the project.
	// +optional
	Status AppProjectStatus `json:"status,omitempty"`
}

// AppProjectSpec is what a project's applications may do.
//
// For the namespaced lists, Argo CD distinguishes absent from empty: an
// absent namespaceResourceWhitelist allows every namespaced kind, an empty
// one allows none. Decoding keeps the difference (a nil slice against an
// empty one) but encoding drops an empty list, so code that writes a spec
// back must not round-trip it through these types.
//
// +kubebuilder:pruning:PreserveUnknownFields
type AppProjectSpec struct {
	// Description says what the project is for.
	// +optional
	Description string `json:"description,omitempty"`
	// SourceRepos are the repository URLs applications may deploy from, as
	// globs; "*" allows any, a leading "!" denies.
	// +optional
	SourceRepos []string `json:"sourceRepos,omitempty"`
	// Destinations are the clusters and namespaces applications may deploy
	// to; fields are globs.
	// +optional
	Destinations []ApplicationDestination `json:"destinations,omitempty"`
	// ClusterResourceWhitelist are the cluster-scoped kinds applications
	// may manage; none when empty.
	// +optional
	ClusterResourceWhitelist []GroupKind `json:"clusterResourceWhitelist,omitempty"`
	// ClusterResourceBlacklist are cluster-scoped kinds applications may not
	// manage, even if whitelisted.
	// +optional
	ClusterResourceBlacklist []GroupKind `json:"clusterResourceBlacklist,omitempty"`
	// NamespaceResourceBlacklist are namespaced kinds applications may not
	// manage.
	// +optional
	NamespaceResourceBlacklist []GroupKind `json:"namespaceResourceBlacklist,omitempty"`
	// NamespaceResourceWhitelist are the namespaced kinds applications may
	// manage; all when absent, none when empty.
	// +optional
	NamespaceResourceWhitelist []GroupKind `json:"namespaceResourceWhitelist,omitempty"`
	// SourceNamespaces are the namespaces, besides the controller's own,
	// whose Applications may use this project; globs.
	// +optional
	SourceNamespaces []string `json:"sourceNamespaces,omitempty"`
}

// GroupKind names a kind of resource in a project's lists; both fields are
// globs ("*" matches any). Newer Argo CD versions add a name to the cluster
// lists; it is kept but not modelled.
//
// +kubebuilder:pruning:PreserveUnknownFields
type GroupKind struct {
	// Group is the API group; empty for the core group.
	Group string `json:"group"`
	// Kind is the kind.
	Kind string `json:"kind"`
}

// AppProjectStatus is what the controller reports about a project. Ferry
// reports nothing yet; Argo CD's jwtTokensByRole belongs to roles, which
// Ferry does not serve.
type AppProjectStatus struct{}

// AppProjectList is a list of AppProjects.
//
// +kubebuilder:object:root=true
type AppProjectList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta is the standard list metadata.
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the AppProjects.
	Items []AppProject `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AppProject{}, &AppProjectList{})
}
