package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApplicationStatus is what the controller last observed and did, in Argo
// CD's shape so that tools written for Argo CD read it unchanged.
type ApplicationStatus struct {
	// Resources lists the resources the application manages, each with its
	// sync and health status.
	// +optional
	Resources []ResourceStatus `json:"resources,omitempty"`
	// Sync is the result of the last comparison of desired with live state.
	// +optional
	Sync SyncStatus `json:"sync,omitempty"`
	// Health is the aggregated health of the application's resources.
	// +optional
	Health HealthStatus `json:"health,omitempty"`
	// History lists past syncs, oldest first, at most
	// spec.revisionHistoryLimit entries.
	// +optional
	History []RevisionHistory `json:"history,omitempty"`
	// Conditions are the errors and warnings currently observed.
	// +optional
	Conditions []ApplicationCondition `json:"conditions,omitempty"`
	// ReconciledAt is when the application was last compared with the
	// latest revision of its source.
	// +optional
	ReconciledAt *metav1.Time `json:"reconciledAt,omitempty"`
	// OperationState is the state of the current or last operation.
	// +optional
	OperationState *OperationState `json:"operationState,omitempty"`
	// SourceType is how the source is rendered (Directory, Kustomize, …).
	// +optional
	SourceType ApplicationSourceType `json:"sourceType,omitempty"`
	// SourceTypes are the source types of a multi-source Application's
	// sources, by position.
	// +optional
	SourceTypes []ApplicationSourceType `json:"sourceTypes,omitempty"`
	// Summary lists facts gathered from the application's resources.
	// +optional
	Summary ApplicationSummary `json:"summary,omitempty"`
}

// ApplicationSourceType is how an application's source is rendered.
type ApplicationSourceType string

// Source types, as Argo CD names them.
const (
	// ApplicationSourceTypeHelm renders a Helm chart.
	ApplicationSourceTypeHelm ApplicationSourceType = "Helm"
	// ApplicationSourceTypeKustomize builds a kustomization.
	ApplicationSourceTypeKustomize ApplicationSourceType = "Kustomize"
	// ApplicationSourceTypeDirectory reads a directory of plain manifests.
	ApplicationSourceTypeDirectory ApplicationSourceType = "Directory"
	// ApplicationSourceTypePlugin runs a config management plugin.
	ApplicationSourceTypePlugin ApplicationSourceType = "Plugin"
)

// SyncStatus is the result of comparing desired with live state.
type SyncStatus struct {
	// Status is whether the live state matches the desired state.
	Status SyncStatusCode `json:"status"`
	// ComparedTo is the source and destination the comparison used.
	// +optional
	ComparedTo ComparedTo `json:"comparedTo,omitempty"`
	// Revision is the resolved revision (a commit SHA for Git, a version
	// for a chart) compared to.
	// +optional
	Revision string `json:"revision,omitempty"`
	// Revisions are the resolved revisions of a multi-source Application's
	// sources, by position (Revision is then empty).
	// +optional
	Revisions []string `json:"revisions,omitempty"`
}

// SyncStatusCode is the outcome of a comparison.
type SyncStatusCode string

// Sync status codes, as Argo CD names them.
const (
	// SyncStatusCodeUnknown means the comparison could not be made.
	SyncStatusCodeUnknown SyncStatusCode = "Unknown"
	// SyncStatusCodeSynced means the live state matches the desired state.
	SyncStatusCodeSynced SyncStatusCode = "Synced"
	// SyncStatusCodeOutOfSync means the live state differs from the desired
	// state.
	SyncStatusCodeOutOfSync SyncStatusCode = "OutOfSync"
)

// ComparedTo is the source and destination a comparison used, so that a
// reader can tell whether status reflects the current spec.
type ComparedTo struct {
	// Source is the source compared.
	// +optional
	Source ApplicationSource `json:"source,omitempty"`
	// Sources are the sources compared, for a multi-source Application.
	// +optional
	Sources ApplicationSources `json:"sources,omitempty"`
	// Destination is the destination compared.
	Destination ApplicationDestination `json:"destination"`
}

// HealthStatus is the health of an application or of one resource.
type HealthStatus struct {
	// Status is the health code.
	// +optional
	Status HealthStatusCode `json:"status,omitempty"`
	// Message explains the status, e.g. which condition is not yet met.
	// +optional
	Message string `json:"message,omitempty"`
	// LastTransitionTime is when the Application's health status last
	// changed (unset for resources' health), as in Argo CD.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// HealthStatusCode is a health assessment, as Argo CD names them. An
// application's health is the worst of its resources'.
type HealthStatusCode string

// Health codes, as Argo CD names them.
const (
	// HealthStatusUnknown means health could not be assessed.
	HealthStatusUnknown HealthStatusCode = "Unknown"
	// HealthStatusProgressing means the resource is not healthy yet but may
	// become so, e.g. a rollout in progress.
	HealthStatusProgressing HealthStatusCode = "Progressing"
	// HealthStatusHealthy means the resource is as intended.
	HealthStatusHealthy HealthStatusCode = "Healthy"
	// HealthStatusSuspended means the resource is paused on purpose, e.g. a
	// suspended CronJob.
	HealthStatusSuspended HealthStatusCode = "Suspended"
	// HealthStatusDegraded means the resource failed or cannot become
	// healthy in time.
	HealthStatusDegraded HealthStatusCode = "Degraded"
	// HealthStatusMissing means the resource is in the desired state but not
	// in the cluster.
	HealthStatusMissing HealthStatusCode = "Missing"
)

// ResourceStatus is the sync and health status of one managed resource.
type ResourceStatus struct {
	// Group is the resource's API group; empty for the core group.
	// +optional
	Group string `json:"group,omitempty"`
	// Version is the resource's API version.
	// +optional
	Version string `json:"version,omitempty"`
	// Kind is the resource's kind.
	// +optional
	Kind string `json:"kind,omitempty"`
	// Namespace is the resource's namespace; empty for cluster-scoped
	// resources.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name is the resource's name.
	// +optional
	Name string `json:"name,omitempty"`
	// Status is whether the live resource matches its desired state.
	// +optional
	Status SyncStatusCode `json:"status,omitempty"`
	// Health is the resource's health; nil when it has no health assessment.
	// +optional
	Health *HealthStatus `json:"health,omitempty"`
	// Hook is true for a sync hook (a resource run around a sync rather than
	// kept in sync).
	// +optional
	Hook bool `json:"hook,omitempty"`
	// RequiresPruning is true for a live resource that is no longer in the
	// desired state and will be deleted by a sync with pruning.
	// +optional
	RequiresPruning bool `json:"requiresPruning,omitempty"`
	// RequiresDeletionConfirmation is true for a resource whose live object
	// is marked Prune=confirm or Delete=confirm (annotation
	// argocd.argoproj.io/sync-options): it is pruned, or deleted with its
	// Application, only once the Application's
	// argocd.argoproj.io/deletion-approved annotation approves it.
	// +optional
	RequiresDeletionConfirmation bool `json:"requiresDeletionConfirmation,omitempty"`

	// SyncWave is the resource's argocd.argoproj.io/sync-wave (0 when
	// unset), so tools can show the order a sync applies resources in.
	// +optional
	SyncWave int64 `json:"syncWave,omitempty"`
}

// OperationState is the state of an operation.
type OperationState struct {
	// Operation is the operation as requested.
	Operation Operation `json:"operation"`
	// Phase is where the operation is.
	Phase OperationPhase `json:"phase"`
	// Message explains the phase, typically the error that ended it.
	// +optional
	Message string `json:"message,omitempty"`
	// SyncResult is the outcome of a sync operation.
	// +optional
	SyncResult *SyncOperationResult `json:"syncResult,omitempty"`
	// StartedAt is when the operation started.
	StartedAt metav1.Time `json:"startedAt"`
	// FinishedAt is when the operation finished; nil while it runs.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
	// RetryCount is how many times the operation has been retried.
	// +optional
	RetryCount int64 `json:"retryCount,omitempty"`
}

// OperationPhase is where an operation, or a hook, is.
type OperationPhase string

// Operation phases, as Argo CD names them.
const (
	// OperationRunning means the operation is in progress.
	OperationRunning OperationPhase = "Running"
	// OperationTerminating means the operation was asked to stop and is
	// stopping.
	OperationTerminating OperationPhase = "Terminating"
	// OperationFailed means the operation ran and did not succeed, e.g. a
	// resource was rejected.
	OperationFailed OperationPhase = "Failed"
	// OperationError means the operation could not run, e.g. the source
	// could not be rendered.
	OperationError OperationPhase = "Error"
	// OperationSucceeded means the operation completed.
	OperationSucceeded OperationPhase = "Succeeded"
)

// SyncOperationResult is the outcome of a sync.
type SyncOperationResult struct {
	// Resources is the result for each resource the sync touched.
	// +optional
	Resources []ResourceResult `json:"resources,omitempty"`
	// Revision is the resolved revision synced to.
	Revision string `json:"revision"`
	// Source is the source synced from; automated sync compares it with the
	// spec to avoid syncing the same revision twice.
	// +optional
	Source ApplicationSource `json:"source,omitempty"`
	// Revisions are the resolved revisions of a multi-source Application's
	// sources, by position.
	// +optional
	Revisions []string `json:"revisions,omitempty"`
	// Sources are the sources synced from, for a multi-source Application.
	// +optional
	Sources ApplicationSources `json:"sources,omitempty"`
}

// ResourceResult is the outcome of a sync for one resource.
type ResourceResult struct {
	// Group is the resource's API group; empty for the core group.
	Group string `json:"group"`
	// Version is the resource's API version.
	Version string `json:"version"`
	// Kind is the resource's kind.
	Kind string `json:"kind"`
	// Namespace is the resource's namespace; empty for cluster-scoped
	// resources.
	Namespace string `json:"namespace"`
	// Name is the resource's name.
	Name string `json:"name"`
	// Status is what the sync did to the resource; empty until it is
	// applied or pruned, and always empty for hooks.
	// +optional
	Status ResultCode `json:"status,omitempty"`
	// Message is the server's answer or the error for this resource.
	// +optional
	Message string `json:"message,omitempty"`
	// HookPhase is the phase of a hook, or of the resource's own rollout.
	// +optional
	HookPhase OperationPhase `json:"hookPhase,omitempty"`
	// SyncPhase is the sync phase the result was recorded in.
	// +optional
	SyncPhase SyncPhase `json:"syncPhase,omitempty"`
	// HookType is the kind of hook; empty for ordinary resources.
	// +optional
	HookType HookType `json:"hookType,omitempty"`
	// SyncWave is the wave the result was recorded in (a Ferry addition;
	// Argo CD leaves it out).
	// +optional
	SyncWave int64 `json:"syncWave,omitempty"`
}

// ResultCode is what a sync did to one resource.
type ResultCode string

// Result codes, as Argo CD names them.
const (
	// ResultCodeSynced means the resource was applied.
	ResultCodeSynced ResultCode = "Synced"
	// ResultCodeSyncFailed means applying the resource failed.
	ResultCodeSyncFailed ResultCode = "SyncFailed"
	// ResultCodePruned means the resource was deleted.
	ResultCodePruned ResultCode = "Pruned"
	// ResultCodePruneSkipped means the resource should be deleted but
	// pruning was not enabled for the sync.
	ResultCodePruneSkipped ResultCode = "PruneSkipped"
)

// SyncPhase is a phase of a sync; hooks run in the phase they name.
type SyncPhase string

// Sync phases, as Argo CD names them.
const (
	// SyncPhasePreSync runs before the resources are applied.
	SyncPhasePreSync SyncPhase = "PreSync"
	// SyncPhaseSync applies the resources.
	SyncPhaseSync SyncPhase = "Sync"
	// SyncPhasePostSync runs after the resources are applied and healthy.
	SyncPhasePostSync SyncPhase = "PostSync"
	// SyncPhaseSyncFail runs when the sync fails.
	SyncPhaseSyncFail SyncPhase = "SyncFail"
)

// HookType is the kind of a sync hook, from its argocd.argoproj.io/hook
// annotation.
type HookType string

// Hook types, as Argo CD names them.
const (
	// HookTypePreSync runs before the sync.
	HookTypePreSync HookType = "PreSync"
	// HookTypeSync runs with the resources.
	HookTypeSync HookType = "Sync"
	// HookTypePostSync runs after a successful sync.
	HookTypePostSync HookType = "PostSync"
	// HookTypeSkip is never applied.
	HookTypeSkip HookType = "Skip"
	// HookTypeSyncFail runs when the sync fails.
	HookTypeSyncFail HookType = "SyncFail"
	// HookTypePostDelete runs after the application is deleted.
	HookTypePostDelete HookType = "PostDelete"
)

// RevisionHistory records one completed sync.
type RevisionHistory struct {
	// ID increases by one with every sync.
	ID int64 `json:"id"`
	// Revision is the resolved revision synced to.
	// +optional
	Revision string `json:"revision,omitempty"`
	// DeployedAt is when the sync finished.
	DeployedAt metav1.Time `json:"deployedAt"`
	// DeployStartedAt is when the sync started.
	// +optional
	DeployStartedAt *metav1.Time `json:"deployStartedAt,omitempty"`
	// Source is the source synced from.
	// +optional
	Source ApplicationSource `json:"source,omitempty"`
	// Revisions are the resolved revisions of a multi-source Application's
	// sources, by position.
	// +optional
	Revisions []string `json:"revisions,omitempty"`
	// Sources are the sources synced from, for a multi-source Application.
	// +optional
	Sources ApplicationSources `json:"sources,omitempty"`
	// InitiatedBy records who requested the sync.
	// +optional
	InitiatedBy OperationInitiator `json:"initiatedBy,omitempty"`
}

// ApplicationCondition is an error or warning about an application.
type ApplicationCondition struct {
	// Type is the kind of error or warning.
	Type ApplicationConditionType `json:"type"`
	// Message explains the condition.
	Message string `json:"message"`
	// LastTransitionTime is when the condition was last observed to start.
	// +optional
	LastTransitionTime *metav1.Time `json:"lastTransitionTime,omitempty"`
}

// ApplicationConditionType is the kind of an ApplicationCondition. By Argo CD's
// convention the suffix says how serious it is: "Error" or "Warning".
type ApplicationConditionType string

// Condition types. All but ApplicationConditionUnsupportedField,
// ApplicationConditionSyncWindowBlocked and
// ApplicationConditionDeletionConfirmationPending are Argo CD's.
const (
	// ApplicationConditionDeletionError means deleting the application's
	// resources failed.
	ApplicationConditionDeletionError ApplicationConditionType = "DeletionError"
	// ApplicationConditionInvalidSpecError means the spec is invalid, e.g.
	// the project does not allow the destination.
	ApplicationConditionInvalidSpecError ApplicationConditionType = "InvalidSpecError"
	// ApplicationConditionComparisonError means desired and live state could
	// not be compared, e.g. the source could not be fetched or rendered.
	ApplicationConditionComparisonError ApplicationConditionType = "ComparisonError"
	// ApplicationConditionSyncError means an automated sync could not be
	// started.
	ApplicationConditionSyncError ApplicationConditionType = "SyncError"
	// ApplicationConditionUnknownError means an unexpected error.
	ApplicationConditionUnknownError ApplicationConditionType = "UnknownError"
	// ApplicationConditionSharedResourceWarning means a resource is also
	// managed by another application.
	ApplicationConditionSharedResourceWarning ApplicationConditionType = "SharedResourceWarning"
	// ApplicationConditionRepeatedResourceWarning means the source holds the
	// same resource more than once.
	ApplicationConditionRepeatedResourceWarning ApplicationConditionType = "RepeatedResourceWarning"
	// ApplicationConditionExcludedResourceWarning means the source holds a
	// resource of a kind that is excluded from management.
	ApplicationConditionExcludedResourceWarning ApplicationConditionType = "ExcludedResourceWarning"
	// ApplicationConditionOrphanedResourceWarning means the destination
	// namespace holds resources no application manages.
	ApplicationConditionOrphanedResourceWarning ApplicationConditionType = "OrphanedResourceWarning"

	// ApplicationConditionUnsupportedField is Ferry's own: the application
	// sets fields of Argo CD's API that Ferry stores but does not act on
	// (for example spec.source.plugin). Ferry keeps such
	// fields rather than pruning them, and reports them here, with the paths
	// UnsupportedFields returns in the message, so that part of the user's
	// intent is never ignored in silence. Ferry still reconciles what it
	// does model.
	ApplicationConditionUnsupportedField ApplicationConditionType = "UnsupportedField"
	// ApplicationConditionSyncWindowBlocked is Ferry's own: a sync is due
	// (automated, or requested in spec.operation, which stays pending) but a
	// sync window of the project blocks it; the message names the window and
	// when the block ends. Argo CD shows the same in its UI only.
	ApplicationConditionSyncWindowBlocked ApplicationConditionType = "SyncWindowBlocked"
	// ApplicationConditionDeletionConfirmationPending is Ferry's own: objects
	// marked Prune=confirm (a sync would prune them) or Delete=confirm (the
	// Application is being deleted with cascade) wait for the Application's
	// annotation argocd.argoproj.io/deletion-approved, an RFC 3339 time
	// newer than the request (`ferry app confirm-deletion NAME` writes it).
	// The message names every waiting object; for a prune, the condition's
	// lastTransitionTime is when confirmation was first requested, for a
	// deletion the Application's deletionTimestamp. Argo CD shows the same
	// as a Running operation's message only.
	ApplicationConditionDeletionConfirmationPending ApplicationConditionType = "DeletionConfirmationPending"
	// ApplicationConditionRenderWarning is Ferry's own: the source rendered,
	// with something its author should know, e.g. a chart calling Helm's
	// lookup, which returns nothing when rendering (as with `helm
	// template`), so the objects may differ from what `helm install`
	// would make.
	ApplicationConditionRenderWarning ApplicationConditionType = "RenderWarning"
)

// ApplicationSummary lists facts gathered from an application's resources.
type ApplicationSummary struct {
	// Images are the container images the application's resources use.
	// +optional
	Images []string `json:"images,omitempty"`
}
