package application

import corev1 "k8s.io/api/core/v1"

// Event reasons (CamelCase, as kubectl describe shows them) and actions
// the Application controller records. Stalled reconciles use the
// appstate.Reason of their error; comparison errors the condition type.
const (
	reasonDriftDetected   = "DriftDetected"
	reasonSyncInterrupted = "SyncInterrupted"
	reasonSyncFailed      = "SyncFailed"
	reasonSynced          = "Synced"
	reasonSharedResource  = "SharedResourceWarning"
	// reasonNamespaceNotServed: an Application outside the namespaces this
	// controller serves (told once per Application).
	reasonNamespaceNotServed = "NamespaceNotServed"

	actionCompare = "Compare"
	actionSync    = "Sync"

	eventWarning = corev1.EventTypeWarning
	eventNormal  = corev1.EventTypeNormal
)
