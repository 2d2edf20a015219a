// Package ui is Ferry's web UI: server-rendered HTML pages (html/template,
// embedded with the binary, no Node toolchain) with one small script for
// live updates and keyboard use.
//
// Kubernetes is the authority. Every person's request goes to the API server
// with their own credentials: a bearer token they logged in with (checked
// with a SelfSubjectReview), or, in `ferry ui`, the kubeconfig user. Pages
// that list many objects (Applications, ApplicationSets, projects, image
// automation) are served from a watch cache, filtered by what the person may
// list, asked of the API server with SelfSubjectAccessReviews (cached per
// session for accessTTL); an Application's page, its resource tree, events,
// diffs and manifests are read with the person's client, and every action
// (sync, refresh, rollback, terminate) is a request of theirs, so a refusal
// is Kubernetes' own. Live updates are server-sent events fed from the
// watch cache (internal/ui/feed.go), coalesced, never a poll of the API server.
//
// See docs/ui.md for the design and its reasons.
package ui
