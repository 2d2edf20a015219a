package v1beta2

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ReadyCondition is the condition every object reports, as in Flux.
const ReadyCondition = "Ready"

// ReconcileRequestAnnotation asks for a reconcile now (Flux's
// reconcile.fluxcd.io/requestedAt); its value is echoed in
// status.lastHandledReconcileAt once handled.
const ReconcileRequestAnnotation = "reconcile.fluxcd.io/requestedAt"

// LocalObjectReference names an object in the same namespace.
// +kubebuilder:pruning:PreserveUnknownFields
type LocalObjectReference struct {
	Name string `json:"name"`
}

// ImageRepositorySpec says which image repository to scan and how.
// +kubebuilder:pruning:PreserveUnknownFields
type ImageRepositorySpec struct {
	// Image is the repository to scan, e.g. registry.example.com/team/app.
	Image string `json:"image"`
	// Interval between scans, e.g. 1m0s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Interval metav1.Duration `json:"interval"`
	// Timeout of one scan; default 30s.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m))+$"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
	// SecretRef names a kubernetes.io/dockerconfigjson Secret with the
	// registry's credentials.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// ServiceAccountName's image pull secrets are used too (not yet: a
	// Ready=False condition says so).
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
	// Suspend stops scanning.
	// +optional
	Suspend bool `json:"suspend,omitempty"`
	// ExclusionList are regular expressions; matching tags are ignored.
	// Default ["^.*\\.sig$"].
	// +optional
	ExclusionList []string `json:"exclusionList,omitempty"`
	// Insecure allows plain HTTP.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// Provider is the cloud provider for credentials (generic only).
	// +optional
	Provider string `json:"provider,omitempty"`
}

// ScanResult is the last successful scan.
type ScanResult struct {
	// TagCount is the number of tags kept.
	TagCount int `json:"tagCount"`
	// ScanTime is when the scan finished.
	// +optional
	ScanTime metav1.Time `json:"scanTime,omitempty"`
	// LatestTags are the ten greatest tags, in descending order.
	// +optional
	LatestTags []string `json:"latestTags,omitempty"`
}

// ImageRepositoryStatus is what the last scan found.
type ImageRepositoryStatus struct {
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// CanonicalImageName is the image as the registry client names it.
	// +optional
	CanonicalImageName string `json:"canonicalImageName,omitempty"`
	// +optional
	LastScanResult *ScanResult `json:"lastScanResult,omitempty"`
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// ImageRepository is an image repository Ferry scans for tags.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=imgrepo
// +kubebuilder:printcolumn:name="Image",type=string,JSONPath=`.spec.image`
// +kubebuilder:printcolumn:name="Tags",type=integer,JSONPath=`.status.lastScanResult.tagCount`
// +kubebuilder:printcolumn:name="Last scan",type=date,JSONPath=`.status.lastScanResult.scanTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ImageRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ImageRepositorySpec   `json:"spec,omitempty"`
	Status            ImageRepositoryStatus `json:"status,omitempty"`
}

// ImageRepositoryList is a list of ImageRepositories.
// +kubebuilder:object:root=true
type ImageRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageRepository `json:"items"`
}

// ImageRepositoryRef names an ImageRepository, in this namespace unless
// Namespace is set.
// +kubebuilder:pruning:PreserveUnknownFields
type ImageRepositoryRef struct {
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// SemVerPolicy picks the highest version in a range.
// +kubebuilder:pruning:PreserveUnknownFields
type SemVerPolicy struct {
	Range string `json:"range"`
}

// OrderPolicy picks the last tag in an order: asc (default) or desc.
// +kubebuilder:pruning:PreserveUnknownFields
type OrderPolicy struct {
	// +optional
	// +kubebuilder:validation:Enum=asc;desc
	Order string `json:"order,omitempty"`
}

// ImagePolicyChoice is exactly one policy.
// +kubebuilder:pruning:PreserveUnknownFields
type ImagePolicyChoice struct {
	// +optional
	SemVer *SemVerPolicy `json:"semver,omitempty"`
	// +optional
	Alphabetical *OrderPolicy `json:"alphabetical,omitempty"`
	// +optional
	Numerical *OrderPolicy `json:"numerical,omitempty"`
}

// TagFilter keeps the tags matching Pattern and compares the Extract
// expansion of the match (e.g. "$ts") instead of the whole tag.
// +kubebuilder:pruning:PreserveUnknownFields
type TagFilter struct {
	// +optional
	Pattern string `json:"pattern,omitempty"`
	// +optional
	Extract string `json:"extract,omitempty"`
}

// ImagePolicySpec says how to pick the latest image of a repository.
// +kubebuilder:pruning:PreserveUnknownFields
type ImagePolicySpec struct {
	ImageRepositoryRef ImageRepositoryRef `json:"imageRepositoryRef"`
	Policy             ImagePolicyChoice  `json:"policy"`
	// +optional
	FilterTags *TagFilter `json:"filterTags,omitempty"`
}

// ImageRef is an image reference as Flux v1 reports it.
type ImageRef struct {
	Name string `json:"name"`
	Tag  string `json:"tag"`
	// +optional
	Digest string `json:"digest,omitempty"`
}

// ImagePolicyStatus is the image the policy picks.
type ImagePolicyStatus struct {
	// LatestImage is "name:tag" (v1beta1 and v1beta2).
	// +optional
	LatestImage string `json:"latestImage,omitempty"`
	// LatestRef is the same as a reference (v1).
	// +optional
	LatestRef *ImageRef `json:"latestRef,omitempty"`
	// ObservedPreviousImage is the image picked before the latest change.
	// +optional
	ObservedPreviousImage string `json:"observedPreviousImage,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// ImagePolicy picks the latest image of an ImageRepository.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=imgpol
// +kubebuilder:printcolumn:name="Latest image",type=string,JSONPath=`.status.latestImage`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ImagePolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ImagePolicySpec   `json:"spec,omitempty"`
	Status            ImagePolicyStatus `json:"status,omitempty"`
}

// ImagePolicyList is a list of ImagePolicies.
// +kubebuilder:object:root=true
type ImagePolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImagePolicy `json:"items"`
}

// CrossNamespaceSourceReference names the Git source to update.
// +kubebuilder:pruning:PreserveUnknownFields
type CrossNamespaceSourceReference struct {
	// +optional
	APIVersion string `json:"apiVersion,omitempty"`
	// +kubebuilder:validation:Enum=GitRepository
	Kind string `json:"kind"`
	Name string `json:"name"`
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// GitCheckoutRef is the branch to check out.
// +kubebuilder:pruning:PreserveUnknownFields
type GitCheckoutRef struct {
	// +optional
	Branch string `json:"branch,omitempty"`
}

// GitCheckoutSpec says what to check out; default the GitRepository's ref.
// +kubebuilder:pruning:PreserveUnknownFields
type GitCheckoutSpec struct {
	Reference GitCheckoutRef `json:"ref"`
}

// CommitUser is a commit's author.
// +kubebuilder:pruning:PreserveUnknownFields
type CommitUser struct {
	// +optional
	Name  string `json:"name,omitempty"`
	Email string `json:"email"`
}

// CommitSpec says how to commit.
// +kubebuilder:pruning:PreserveUnknownFields
type CommitSpec struct {
	Author CommitUser `json:"author"`
	// MessageTemplate is a Go template; see docs/image-automation.md.
	// +optional
	MessageTemplate string `json:"messageTemplate,omitempty"`
	// MessageTemplateValues are available as .Values.
	// +optional
	MessageTemplateValues map[string]string `json:"messageTemplateValues,omitempty"`
}

// PushSpec says where to push; default the checked-out branch.
// +kubebuilder:pruning:PreserveUnknownFields
type PushSpec struct {
	// +optional
	Branch string `json:"branch,omitempty"`
}

// GitSpec is the Git side of an automation.
// +kubebuilder:pruning:PreserveUnknownFields
type GitSpec struct {
	// +optional
	Checkout *GitCheckoutSpec `json:"checkout,omitempty"`
	Commit   CommitSpec       `json:"commit"`
	// +optional
	Push *PushSpec `json:"push,omitempty"`
}

// UpdateStrategy says which files to update; Setters is the only strategy.
// +kubebuilder:pruning:PreserveUnknownFields
type UpdateStrategy struct {
	// +optional
	Path string `json:"path,omitempty"`
	// +kubebuilder:validation:Enum=Setters
	// +kubebuilder:default=Setters
	Strategy string `json:"strategy"`
}

// ImageUpdateAutomationSpec says which repository to update, how and how
// often.
// +kubebuilder:pruning:PreserveUnknownFields
type ImageUpdateAutomationSpec struct {
	SourceRef CrossNamespaceSourceReference `json:"sourceRef"`
	// +optional
	GitSpec *GitSpec `json:"git,omitempty"`
	// Interval between runs.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern="^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$"
	Interval metav1.Duration `json:"interval"`
	// +optional
	Update *UpdateStrategy `json:"update,omitempty"`
	// PolicySelector selects the ImagePolicies to apply; default all in the
	// namespace.
	// +optional
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	PolicySelector *metav1.LabelSelector `json:"policySelector,omitempty"`
	// +optional
	Suspend bool `json:"suspend,omitempty"`
}

// ImageUpdateAutomationStatus is what the last run did.
type ImageUpdateAutomationStatus struct {
	// +optional
	LastAutomationRunTime *metav1.Time `json:"lastAutomationRunTime,omitempty"`
	// +optional
	LastPushCommit string `json:"lastPushCommit,omitempty"`
	// +optional
	LastPushTime *metav1.Time `json:"lastPushTime,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	LastHandledReconcileAt string `json:"lastHandledReconcileAt,omitempty"`
}

// ImageUpdateAutomation commits the images ImagePolicies pick to Git.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Last run",type=date,JSONPath=`.status.lastAutomationRunTime`
// +kubebuilder:printcolumn:name="Last push",type=string,JSONPath=`.status.lastPushCommit`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type ImageUpdateAutomation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              ImageUpdateAutomationSpec   `json:"spec,omitempty"`
	Status            ImageUpdateAutomationStatus `json:"status,omitempty"`
}

// ImageUpdateAutomationList is a list of ImageUpdateAutomations.
// +kubebuilder:object:root=true
type ImageUpdateAutomationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ImageUpdateAutomation `json:"items"`
}
