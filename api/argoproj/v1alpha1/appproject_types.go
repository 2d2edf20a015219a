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
// roles (API-server tokens and RBAC policies, which Ferry leaves to
// Kubernetes RBAC) and signature keys are kept but not modelled.
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
	ClusterResourceWhitelist []ClusterResourceRestrictionItem `json:"clusterResourceWhitelist,omitempty"`
	// ClusterResourceBlacklist are cluster-scoped kinds applications may not
	// manage, even if whitelisted.
	// +optional
	ClusterResourceBlacklist []ClusterResourceRestrictionItem `json:"clusterResourceBlacklist,omitempty"`
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
	// SyncWindows say when the project's applications may sync.
	// +optional
	SyncWindows SyncWindows `json:"syncWindows,omitempty"`
	// OrphanedResources, when set, makes applications report objects in
	// their destination namespaces that no application tracks.
	// +optional
	OrphanedResources *OrphanedResourcesMonitorSettings `json:"orphanedResources,omitempty"`
	// DestinationServiceAccounts name the ServiceAccount a sync runs as, per
	// destination: the first entry whose server and namespace globs match
	// the application's destination wins.
	// +optional
	DestinationServiceAccounts []ApplicationDestinationServiceAccount `json:"destinationServiceAccounts,omitempty"`
	// PermitOnlyProjectScopedClusters limits destinations to clusters whose
	// Secret names this project.
	// +optional
	PermitOnlyProjectScopedClusters bool `json:"permitOnlyProjectScopedClusters,omitempty"`
}

// ClusterResourceRestrictionItem is a cluster-scoped kind in a project's
// cluster lists; group and kind are globs, name (a glob, optional) narrows
// the item to objects of that name.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ClusterResourceRestrictionItem struct {
	// Group is the API group; empty for the core group.
	Group string `json:"group"`
	// Kind is the kind.
	Kind string `json:"kind"`
	// Name, when set, matches only objects of that name (a glob).
	// +optional
	Name string `json:"name,omitempty"`
}

// SyncWindows are a project's sync windows.
type SyncWindows []*SyncWindow

// SyncWindow allows or denies syncs from each time its cron schedule fires,
// for its duration, for the applications it selects.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SyncWindow struct {
	// Kind is "allow" or "deny".
	// +optional
	Kind string `json:"kind,omitempty"`
	// Schedule is when the window opens, in five-field cron syntax.
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// Duration is how long the window stays open ("1h", "30m").
	// +optional
	Duration string `json:"duration,omitempty"`
	// Applications are application names the window applies to (globs).
	// +optional
	Applications []string `json:"applications,omitempty"`
	// Namespaces are destination namespaces the window applies to (globs).
	// +optional
	Namespaces []string `json:"namespaces,omitempty"`
	// Clusters are destination cluster servers or names the window applies
	// to (globs).
	// +optional
	Clusters []string `json:"clusters,omitempty"`
	// ManualSync lets requested syncs through a window that blocks.
	// +optional
	ManualSync bool `json:"manualSync,omitempty"`
	// TimeZone is the IANA zone the schedule is read in; UTC when empty.
	// +optional
	TimeZone string `json:"timeZone,omitempty"`
	// UseAndOperator makes the selectors all have to match, not any.
	// +optional
	UseAndOperator bool `json:"andOperator,omitempty"`
	// Description says what the window is for.
	// +optional
	Description string `json:"description,omitempty"`
}

// OrphanedResourcesMonitorSettings turn on the report of orphaned objects.
//
// +kubebuilder:pruning:PreserveUnknownFields
type OrphanedResourcesMonitorSettings struct {
	// Warn raises an OrphanedResourceWarning condition when true.
	// +optional
	Warn *bool `json:"warn,omitempty"`
	// Ignore are objects never reported as orphaned.
	// +optional
	Ignore []OrphanedResourceKey `json:"ignore,omitempty"`
}

// OrphanedResourceKey matches objects by group, kind and name (globs).
//
// +kubebuilder:pruning:PreserveUnknownFields
type OrphanedResourceKey struct {
	// Group is the API group.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind is the kind.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Name is the object's name.
	// +optional
	Name string `json:"name,omitempty"`
}

// ApplicationDestinationServiceAccount is the ServiceAccount a sync to a
// destination runs as.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationDestinationServiceAccount struct {
	// Server is the destination cluster's API server URL (a glob).
	Server string `json:"server"`
	// Namespace is the destination namespace (a glob).
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// DefaultServiceAccount is "name" (in the destination namespace) or
	// "namespace:name".
	DefaultServiceAccount string `json:"defaultServiceAccount"`
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
