// Package diff compares an Application's desired objects with the live ones
// without false drift.
//
// The comparison is made against what the API server itself would produce: a
// server-side apply dry-run of the desired object (field manager "ferry",
// forcing ownership, as a sync would) is compared with the live object. The
// dry-run result contains every field the server defaults and every field
// other managers own, so a Service without clusterIP or a Deployment without
// strategy compares equal to its live object, and only fields Ferry applies
// and someone changed show as drift. Metadata other than labels and
// annotations, and status, are not compared. ignoreDifferences rules (JSON
// pointers, jq path expressions) remove fields from both sides first.
//
// Secret values never leave this package: results for Secrets carry masked
// data.
package diff
