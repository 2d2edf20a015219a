// Package appview is what a person sees of an Application and the actions
// they start, with their own credentials: the CLI (internal/cli) and the
// web UI (internal/ui) both read and act through it, so the two never
// disagree.
//
// Every function takes the caller's client: the API server's RBAC and
// admission decide what the person may read and do, as they do for kubectl.
// Reads show what status and the cluster say (Tree, Compare, Commits,
// SyncWindowState); actions write the Application as Argo CD's API server
// does, and the controller does the rest (StartOperation, Refresh,
// Terminate, DisableAutoSync). SyncOperation and RollbackOperation build
// the operation to start from what the person asked, refusing what does not
// fit the Application. Secret values never reach an output: DisplayYAML
// and Unified mask them.
package appview
