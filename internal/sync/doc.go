// Package sync decides what an Application's sync does and carries it out.
//
// The planner (Plan) is a pure function of the desired objects rendered from
// Git, what is known of the live objects, and the sync options: it returns
// which objects to apply, which to prune, which to leave alone because another
// Application owns them, and why; Steps orders it in phases, waves and
// kinds, with the hooks (docs/sync.md). The executor (Executor) then carries
// the steps out against the API server with server-side apply, waiting for
// each step to become healthy, and decides nothing of its own. The planner
// is table-tested without a cluster; the executor is tested against a real
// API server.
//
// Ownership is recorded on every applied object in the annotation
// argocd.argoproj.io/tracking-id, in Argo CD's format
// "<app>:<group>/<kind>:<namespace>/<name>", so resources migrated from Argo
// CD are recognised, and never in a label other tools also write.
package sync
