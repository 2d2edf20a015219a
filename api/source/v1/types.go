package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LocalObjectReference names an object in the same namespace.
// +kubebuilder:pruning:PreserveUnknownFields
type LocalObjectReference struct {
	Name string `json:"name"`
}

// GitRepositoryRef is the Git reference to follow.
// +kubebuilder:pruning:PreserveUnknownFields
type GitRepositoryRef struct {
	// +optional
	Branch string `json:"branch,omitempty"`
	// +optional
	Tag string `json:"tag,omitempty"`
	// +optional
	SemVer string `json:"semver,omitempty"`
	// +optional
	Name string `json:"name,omitempty"`
	// +optional
	Commit string `json:"commit,omitempty"`
}

// GitRepositorySpec is a Git repository and how to reach it.
// +kubebuilder:pruning:PreserveUnknownFields
type GitRepositorySpec struct {
	// URL of the repository: http(s)://, ssh:// or file://.
	URL string `json:"url"`
	// SecretRef names a Secret with username and password (or bearerToken)
	// for HTTP(S), or identity and known_hosts for SSH.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Interval between fetches, e.g. 1m0s (Flux's duration pattern: the API
	// server refuses another, so one bad object never stops a list).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	// +optional
	Interval metav1.Duration `json:"interval,omitempty"`
	// Timeout of one fetch, in ms, s or m as Flux allows.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// +optional
	Reference *GitRepositoryRef `json:"ref,omitempty"`
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// GitRepositoryStatus reports the repository's state.
type GitRepositoryStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// GitRepository is a Git repository an ImageUpdateAutomation updates.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gitrepo
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
type GitRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GitRepositorySpec   `json:"spec,omitempty"`
	Status            GitRepositoryStatus `json:"status,omitempty"`
}

// GitRepositoryList is a list of GitRepositories.
// +kubebuilder:object:root=true
type GitRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitRepository `json:"items"`
}
