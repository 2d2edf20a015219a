// Package project holds Argo CD's AppProject rules as pure functions: which
// repositories an Application may deploy from, which clusters and
// namespaces it may deploy to, which kinds of object it may manage, which
// namespaces its Application may live in, when its sync windows let it
// sync, which ServiceAccount a sync runs as, and which objects are never
// reported as orphaned.
//
// The package is pure: it reads an *v1alpha1.AppProject and the facts the
// caller passes in (a repository URL, a destination, the objects a sync
// would touch, the current time) and returns decisions. It has no
// Kubernetes client, does no I/O, logs nothing and keeps no state, so the
// controller and the CLI reach the same verdicts and tests need no cluster.
//
// The rules follow Argo CD's own (pkg/apis/application/v1alpha1 and
// util/glob): the same glob library, the same deny-pattern quirks, the same
// nil-versus-empty whitelist distinction. Where Ferry is stricter or reads a
// rule more carefully, the function's comment says so.
//
// A controller checks an Application before syncing it:
//
//	if !project.SourcePermitted(p, app.Spec.Source.RepoURL) { ... }
//	cluster := project.Destination{Server: dst.Server, Name: dst.Name}
//	if v := project.Check(p, cluster, objs); len(v) > 0 {
//		return &project.RefusedError{Project: p.Name, Violations: v}
//	}
//	d, err := project.SyncWindowsAllow(p, app, manual, time.Now())
//	if err == nil && !d.Allowed { ... d.Message ... }
package project
