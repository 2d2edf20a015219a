package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Application is Argo CD's Application: one source of manifests, one
// destination to deploy them to, and a policy for when to sync.
//
// Ferry serves the status subresource, which Argo CD's own CRD does not (Argo
// CD's controller writes .status with ordinary updates and patches of the
// whole object). With the subresource, writes to the main resource ignore
// .status and writes to /status ignore everything else. That is what Ferry
// needs: a user's `kubectl apply`, `kubectl replace` or GitOps re-apply of the
// manifest they keep in Git can never wipe or rewrite the status the
// controller reported, the controller can patch status without racing the
// user's spec edits, and RBAC can grant the two separately. metadata.generation
// then moves only when spec or operation change, which lets Ferry tell a new
// desired state from its own status writes. Tools that only read .status (the
// argocd CLI, dashboards, health checks) see the same shape either way; the
// one casualty is a real Argo CD controller pointed at this CRD, whose status
// writes to the main resource would be dropped, so the two must not share it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=applications,shortName=app;apps
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Sync Status",type=string,JSONPath=`.status.sync.status`
// +kubebuilder:printcolumn:name="Health Status",type=string,JSONPath=`.status.health.status`
// +kubebuilder:printcolumn:name="Revision",type=string,JSONPath=`.status.sync.revision`,priority=10
// +kubebuilder:printcolumn:name="Project",type=string,JSONPath=`.spec.project`,priority=10
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Application struct {
	metav1.TypeMeta `json:",inline"`
	// ObjectMeta is the standard object metadata.
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the desired state: what to deploy, where, and how to sync it.
	// +required
	Spec ApplicationSpec `json:"spec"`
	// Status is what the controller last observed and did. Only the
	// controller writes it, through the status subresource.
	// +optional
	Status ApplicationStatus `json:"status,omitempty"`
	// Operation is a requested operation (today only a sync). A user or the
	// controller's automated sync sets it on the main resource; the
	// controller clears it when the operation finishes and records the
	// outcome in status.operationState.
	// +optional
	Operation *Operation `json:"operation,omitempty"`
}

// ApplicationSpec is the desired state of an Application.
//
// Fields Ferry does not model (spec.source.plugin, …) are kept by the API
// server, and UnsupportedFields names them.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSpec struct {
	// Source is where the application's manifests live. Exactly one of
	// Source and Sources is set.
	// +optional
	Source *ApplicationSource `json:"source,omitempty"`
	// Sources are several sources rendered together into one desired state,
	// in order (Argo CD's multi-source Applications). A source with a Ref
	// and no Path or Chart renders nothing: it lends its files to the
	// others' "$ref/..." value files.
	// +optional
	Sources ApplicationSources `json:"sources,omitempty"`
	// Destination is the cluster and namespace the manifests are deployed to.
	Destination ApplicationDestination `json:"destination"`
	// Project is the AppProject this application belongs to; the empty
	// string means "default".
	Project string `json:"project"`
	// SyncPolicy controls when and how a sync runs. Without it, syncs run
	// only when requested through operation.
	// +optional
	SyncPolicy *SyncPolicy `json:"syncPolicy,omitempty"`
	// IgnoreDifferences lists resources and fields to leave out when
	// comparing desired with live state.
	// +optional
	IgnoreDifferences []ResourceIgnoreDifferences `json:"ignoreDifferences,omitempty"`
	// RevisionHistoryLimit is how many entries status.history keeps.
	// Argo CD's default is 10; zero keeps none.
	// +optional
	RevisionHistoryLimit *int64 `json:"revisionHistoryLimit,omitempty"`
}

// ApplicationSources are the sources of a multi-source Application.
type ApplicationSources []ApplicationSource

// ApplicationSource is a location of manifests: a path in a Git repository,
// or a Helm chart in a Helm repository or an OCI registry.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSource struct {
	// RepoURL is the URL of the Git repository holding the manifests, or of
	// the Helm repository (https://…, oci://…, or host/path with a
	// repository Secret saying enableOCI) holding Chart.
	RepoURL string `json:"repoURL"`
	// TargetRevision is the branch, tag or commit to deploy; empty means
	// HEAD. For a chart: its version, or a semver range ("1.2.*",
	// ">=1.0.0 <2.0.0"); empty means the newest.
	// +optional
	TargetRevision string `json:"targetRevision,omitempty"`
	// Chart is the name of a chart in the Helm repository RepoURL. Set, the
	// source is that chart (Path is then unused).
	// +optional
	Chart string `json:"chart,omitempty"`
	// Helm holds options for rendering a Helm chart (a Chart, or a Path
	// holding a Chart.yaml).
	// +optional
	Helm *ApplicationSourceHelm `json:"helm,omitempty"`
	// Ref names this source for the other sources of a multi-source
	// Application: their value files "$<ref>/path" read this source's
	// repository at its revision.
	// +optional
	Ref string `json:"ref,omitempty"`
	// Name names the source, for people (Argo CD shows it); unused by the
	// controller.
	// +optional
	Name string `json:"name,omitempty"`
	// Path is the directory within the repository holding the manifests.
	// +optional
	Path string `json:"path,omitempty"`
	// Directory holds options for a directory of plain manifests.
	// +optional
	Directory *ApplicationSourceDirectory `json:"directory,omitempty"`
	// Kustomize holds options for a kustomization.
	// +optional
	Kustomize *ApplicationSourceKustomize `json:"kustomize,omitempty"`
}

// ApplicationSourceHelm holds the options of a Helm source, as Argo CD
// passes them to `helm template`.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSourceHelm struct {
	// ValueFiles are values files, in order, relative to the chart (in Git:
	// to Path; from a Helm repository: inside the chart archive), or
	// "$<ref>/path" in the repository of the source whose Ref is <ref>.
	// +optional
	ValueFiles []string `json:"valueFiles,omitempty"`
	// IgnoreMissingValueFiles skips ValueFiles that do not exist instead of
	// failing the render.
	// +optional
	IgnoreMissingValueFiles bool `json:"ignoreMissingValueFiles,omitempty"`
	// Values is a YAML document of values, applied after ValueFiles.
	// +optional
	Values string `json:"values,omitempty"`
	// ValuesObject is Values as an object; it wins over Values.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Type=object
	ValuesObject *runtime.RawExtension `json:"valuesObject,omitempty"`
	// Parameters are --set (or, with ForceString, --set-string) values,
	// applied after Values.
	// +optional
	Parameters []HelmParameter `json:"parameters,omitempty"`
	// FileParameters are --set-file values: a key and a file whose content
	// becomes its value, read as ValueFiles are.
	// +optional
	FileParameters []HelmFileParameter `json:"fileParameters,omitempty"`
	// ReleaseName is the release name the templates see; the Application's
	// name when empty.
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
	// Namespace is the namespace the templates see (.Release.Namespace);
	// the destination namespace when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// SkipCrds leaves out the chart's crds/ directory.
	// +optional
	SkipCrds bool `json:"skipCrds,omitempty"`
	// SkipTests leaves out the chart's test hooks.
	// +optional
	SkipTests bool `json:"skipTests,omitempty"`
	// SkipSchemaValidation skips the chart's values.schema.json.
	// +optional
	SkipSchemaValidation bool `json:"skipSchemaValidation,omitempty"`
	// PassCredentials sends the Helm repository's credentials to chart URLs
	// on other hosts too.
	// +optional
	PassCredentials bool `json:"passCredentials,omitempty"`
	// Version is the Helm version ("v3"); Ferry renders with Helm's
	// library, compatible with v3 charts, whatever it says.
	// +optional
	Version string `json:"version,omitempty"`
	// KubeVersion is the Kubernetes version the templates see
	// (.Capabilities.KubeVersion); the destination cluster's when empty.
	// +optional
	KubeVersion string `json:"kubeVersion,omitempty"`
	// APIVersions are the API versions the templates see
	// (.Capabilities.APIVersions); the destination cluster's when empty.
	// +optional
	APIVersions []string `json:"apiVersions,omitempty"`
}

// HelmParameter is a value set on the command line.
//
// +kubebuilder:pruning:PreserveUnknownFields
type HelmParameter struct {
	// Name is the value's path, as --set takes it ("image.tag").
	// +optional
	Name string `json:"name,omitempty"`
	// Value is the value.
	// +optional
	Value string `json:"value,omitempty"`
	// ForceString keeps Value a string (--set-string).
	// +optional
	ForceString bool `json:"forceString,omitempty"`
}

// HelmFileParameter is a value read from a file (--set-file).
//
// +kubebuilder:pruning:PreserveUnknownFields
type HelmFileParameter struct {
	// Name is the value's path.
	// +optional
	Name string `json:"name,omitempty"`
	// Path is the file, resolved as a value file is.
	// +optional
	Path string `json:"path,omitempty"`
}

// ApplicationSourceDirectory holds options for a directory of plain YAML or
// JSON manifests. Argo CD's jsonnet options are kept but not modelled.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSourceDirectory struct {
	// Recurse reads manifests from subdirectories too.
	// +optional
	Recurse bool `json:"recurse,omitempty"`
	// Include is a glob of file paths to read; all manifests when empty.
	// +optional
	Include string `json:"include,omitempty"`
	// Exclude is a glob of file paths to skip, applied after Include.
	// +optional
	Exclude string `json:"exclude,omitempty"`
}

// ApplicationSourceKustomize holds options applied on top of a
// kustomization when it is built.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationSourceKustomize struct {
	// NamePrefix is prepended to the name of every resource.
	// +optional
	NamePrefix string `json:"namePrefix,omitempty"`
	// NameSuffix is appended to the name of every resource.
	// +optional
	NameSuffix string `json:"nameSuffix,omitempty"`
	// Images overrides container images.
	// +optional
	Images []KustomizeImage `json:"images,omitempty"`
	// CommonLabels are added to every resource.
	// +optional
	CommonLabels map[string]string `json:"commonLabels,omitempty"`
	// CommonAnnotations are added to every resource.
	// +optional
	CommonAnnotations map[string]string `json:"commonAnnotations,omitempty"`
	// Namespace is set on every namespaced resource.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// KustomizeImage is an image override in kustomize's
// `[old_image_name=]<image_name>:<image_tag>` form, e.g. "nginx=nginx:1.2" or
// "nginx:1.2".
type KustomizeImage string

// ApplicationDestination names the cluster and namespace to deploy to. Exactly
// one of Server and Name identifies the cluster.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ApplicationDestination struct {
	// Server is the URL of the cluster's API server;
	// https://kubernetes.default.svc is the cluster Ferry runs in.
	// +optional
	Server string `json:"server,omitempty"`
	// Namespace is set on namespaced resources whose manifest names none.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name is the cluster's registered name, an alternative to Server.
	// +optional
	Name string `json:"name,omitempty"`
}

// SyncPolicy controls when and how a sync runs.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SyncPolicy struct {
	// Automated syncs whenever the desired state differs from the live state.
	// +optional
	Automated *SyncPolicyAutomated `json:"automated,omitempty"`
	// SyncOptions apply to every sync of the application, in Argo CD's
	// "Name=value" form, e.g. "CreateNamespace=true".
	// +optional
	SyncOptions []string `json:"syncOptions,omitempty"`
	// Retry controls retries of a failed sync.
	// +optional
	Retry *RetryStrategy `json:"retry,omitempty"`
}

// SyncPolicyAutomated controls automated syncs.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SyncPolicyAutomated struct {
	// Prune deletes resources that are no longer in the source during an
	// automated sync.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// SelfHeal syncs again when the live state drifts from the desired state
	// without a change in the source.
	// +optional
	SelfHeal bool `json:"selfHeal,omitempty"`
	// AllowEmpty lets an automated sync leave the application with no
	// resources; without it a sync that would prune everything is refused.
	// +optional
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

// RetryStrategy controls retries of a failed sync.
//
// +kubebuilder:pruning:PreserveUnknownFields
type RetryStrategy struct {
	// Limit is the number of retries; zero means none.
	// +optional
	Limit int64 `json:"limit,omitempty"`
	// Backoff is the wait between retries.
	// +optional
	Backoff *Backoff `json:"backoff,omitempty"`
}

// Backoff is an exponential backoff: Duration, then Duration*Factor, and so
// on, capped at MaxDuration.
//
// +kubebuilder:pruning:PreserveUnknownFields
type Backoff struct {
	// Duration is the first wait, in seconds ("5") or as a Go duration
	// ("5s", "2m").
	// +optional
	Duration string `json:"duration,omitempty"`
	// Factor multiplies the wait after each failed retry.
	// +optional
	Factor *int64 `json:"factor,omitempty"`
	// MaxDuration caps the wait, in the same form as Duration.
	// +optional
	MaxDuration string `json:"maxDuration,omitempty"`
}

// ResourceIgnoreDifferences selects resources and the fields of them to leave
// out of the comparison between desired and live state.
//
// +kubebuilder:pruning:PreserveUnknownFields
type ResourceIgnoreDifferences struct {
	// Group is the resource's API group; empty for the core group.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind is the resource's kind.
	Kind string `json:"kind"`
	// Name selects one resource by name; all of the kind when empty.
	// +optional
	Name string `json:"name,omitempty"`
	// Namespace selects resources in one namespace; all when empty.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// JSONPointers are RFC 6901 pointers to fields to ignore.
	// +optional
	JSONPointers []string `json:"jsonPointers,omitempty"`
	// JQPathExpressions are jq path expressions selecting fields to ignore.
	// +optional
	JQPathExpressions []string `json:"jqPathExpressions,omitempty"`
	// ManagedFieldsManagers are field managers whose fields are ignored.
	// +optional
	ManagedFieldsManagers []string `json:"managedFieldsManagers,omitempty"`
}

// Operation is a requested operation on an Application.
//
// +kubebuilder:pruning:PreserveUnknownFields
type Operation struct {
	// Sync requests a sync.
	// +optional
	Sync *SyncOperation `json:"sync,omitempty"`
	// InitiatedBy records who requested the operation.
	// +optional
	InitiatedBy OperationInitiator `json:"initiatedBy,omitempty"`
	// Retry controls retries if the operation fails.
	// +optional
	Retry RetryStrategy `json:"retry,omitempty"`
}

// SyncOperation is a requested sync.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SyncOperation struct {
	// Revision to sync to; the spec's targetRevision when empty.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Revisions are the revisions of a multi-source Application's sources,
	// by position (or by SourcePositions when set); an empty one follows
	// the spec.
	// +optional
	Revisions []string `json:"revisions,omitempty"`
	// SourcePositions are the 1-based positions in spec.sources that
	// Revisions apply to (`argocd app sync --source-positions`).
	// +optional
	SourcePositions []int64 `json:"sourcePositions,omitempty"`
	// Prune deletes resources that are no longer in the source.
	// +optional
	Prune bool `json:"prune,omitempty"`
	// DryRun computes and validates the sync without changing anything.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// SyncOptions apply to this sync only, in the same form as
	// spec.syncPolicy.syncOptions.
	// +optional
	SyncOptions []string `json:"syncOptions,omitempty"`
	// Resources limits the sync to these resources; all when empty.
	// +optional
	Resources []SyncOperationResource `json:"resources,omitempty"`
}

// SyncOperationResource selects a resource for a partial sync.
//
// +kubebuilder:pruning:PreserveUnknownFields
type SyncOperationResource struct {
	// Group is the resource's API group; empty for the core group.
	// +optional
	Group string `json:"group,omitempty"`
	// Kind is the resource's kind.
	Kind string `json:"kind"`
	// Name is the resource's name.
	Name string `json:"name"`
	// Namespace is the resource's namespace; empty for cluster-scoped
	// resources.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// OperationInitiator records who requested an operation.
//
// +kubebuilder:pruning:PreserveUnknownFields
type OperationInitiator struct {
	// Username is the user who requested the operation.
	// +optional
	Username string `json:"username,omitempty"`
	// Automated is true when the controller requested it (automated sync).
	// +optional
	Automated bool `json:"automated,omitempty"`
}

// ApplicationList is a list of Applications.
//
// +kubebuilder:object:root=true
type ApplicationList struct {
	metav1.TypeMeta `json:",inline"`
	// ListMeta is the standard list metadata.
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the Applications.
	Items []Application `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Application{}, &ApplicationList{})
}
