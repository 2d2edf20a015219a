// Package appset generates an ApplicationSet's Applications, as Argo CD's ApplicationSet
// controller does: the generators turn spec.generators into parameter sets, and the template (and
// templatePatch) is rendered with each set into an Application owned by the ApplicationSet.
//
// The core is pure: Generate and Render take clusters as values and read repositories through
// the Repo interface, so they are tested with tables and no cluster or Git. Applications puts
// them together for one ApplicationSet. The edges are small and separate: Clusters reads the
// cluster registry, GitRepo reads repositories through Ferry's Git cache, and Preview wires both
// for `ferry appset preview`. The ApplicationSet controller (internal/controller/appset) calls
// the same functions, so a preview shows what the controller would generate.
//
//	clusters, err := appset.Clusters(ctx, registry)
//	...
//	apps, err := appset.Applications(ctx, as, clusters, appset.GitRepo{Sources: cache})
//
// Parameters follow Argo CD's two modes. Without goTemplate every parameter is a string under a
// flat, dotted name ("metadata.labels.region", "path[0]") and templates substitute "{{name}}".
// With goTemplate parameters keep their structure and types (.metadata.labels.region,
// .path.segments) and templates are Go text/templates with sprig's functions.
package appset
