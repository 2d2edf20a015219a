// Package appstate answers the two questions every part of Ferry asks of an
// Application: what does it want (its source resolved, rendered and
// prepared for its destination), and how does the cluster differ (per
// resource: Synced, OutOfSync, missing, requiring pruning, and health), and
// then, purely, what a controller should do about it (Decide).
//
// The controller, `ferry app diff` (with and without --local), `ferry
// promote --dry-run` and `ferry validate` all go through it, so they cannot
// disagree about what an Application's desired state is:
//
//	desired, err := renderer.Desired(ctx, app, instance, revision, scope)
//	cmp, err := appstate.Compare(ctx, appstate.CompareInput{App: app, Instance: instance,
//		Desired: desired, Cluster: cluster, Ignore: ignorer})
//	for _, r := range cmp.Resources { ... r.Sync, r.RequiresPruning, r.Health ... }
//	d := appstate.Decide(appstate.DecisionInput{App: app, Comparison: cmp, LastSync: last, Now: now})
//
// Nothing here writes to a cluster, logs or prints: reads go through the
// Cluster interface (a watch cache and the API server in the controller,
// the API server alone in the CLI), and the results are data.
package appstate
