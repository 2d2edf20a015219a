package controller

import (
	"net/http"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
)

// The kinds of API request ferry_api_requests_total counts, named by what
// they cost the API server rather than by HTTP method: a server-side apply
// and a dry-run of one are both PATCHes, a status write and an Event are
// writes like any other, but each is a different thing to remove.
const (
	requestApply     = "apply"     // a server-side apply (PATCH, application/apply-patch+yaml), not a dry-run
	requestDryRun    = "dry-run"   // any request with dryRun=All
	requestStatus    = "status"    // a write to a /status subresource
	requestEvent     = "event"     // a write to Events (core/v1 or events.k8s.io)
	requestCreate    = "create"    // other POSTs
	requestUpdate    = "update"    // other PUTs
	requestPatch     = "patch"     // other PATCHes (merge, strategic merge, JSON patch)
	requestDelete    = "delete"    // DELETE of one object or a collection
	requestGet       = "get"       // a GET naming one object (or its subresource)
	requestList      = "list"      // a GET of a collection
	requestWatch     = "watch"     // a GET with watch=true (or the old /watch/ path)
	requestDiscovery = "discovery" // /api, /apis, their groups and versions, /version, /openapi
	requestOther     = "other"     // anything else (/healthz, unknown methods)
)

// countAPIRequests returns a copy of cfg whose clients count each request
// by kind (requestKind) before sending it. Every client built on the copy
// counts: the manager's cache and client, the direct clients, the
// executors, discovery; a config derived from it with rest.CopyConfig keeps
// the wrapper.
func countAPIRequests(cfg *rest.Config, count func(kind string)) *rest.Config {
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return &countingTransport{next: rt, count: count}
	})
	return cfg
}

// countingTransport counts each round trip, retries included: each is
// work for the API server.
type countingTransport struct {
	next  http.RoundTripper
	count func(kind string)
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.count(requestKind(req))
	return t.next.RoundTrip(req)
}

// WrappedRoundTripper lets client-go see through the wrapper (for
// cancelling requests, debugging).
func (t *countingTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// requestKind classifies a request to the Kubernetes API from its method,
// path, query and Content-Type header alone: the body is never read.
func requestKind(req *http.Request) string {
	var query url.Values
	if q := req.URL.RawQuery; strings.Contains(q, "dryRun=") || strings.Contains(q, "watch=") {
		query = req.URL.Query() // parsed only when it can matter
	}
	if query != nil && hasValue(query["dryRun"], "All") {
		return requestDryRun
	}
	p, ok := parseAPIPath(req.URL.Path)
	if !ok {
		return requestOther
	}
	if p.discovery {
		return requestDiscovery
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case p.watch || hasValue(query["watch"], "true", "1"):
			return requestWatch
		case p.name == "":
			return requestList
		}
		return requestGet
	case http.MethodDelete:
		return requestDelete
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	default:
		return requestOther
	}
	switch {
	case p.resource == "events":
		return requestEvent
	case p.subresource == "status":
		return requestStatus
	case req.Method == http.MethodPost:
		return requestCreate
	case req.Method == http.MethodPut:
		return requestUpdate
	case isApplyPatch(req.Header.Get("Content-Type")):
		return requestApply
	}
	return requestPatch
}

// apiPath is what requestKind needs of a request's path.
type apiPath struct {
	discovery                   bool // /api, /apis, a group or version, /version, /openapi
	watch                       bool // the deprecated /watch/ prefix
	resource, name, subresource string
}

// parseAPIPath splits a Kubernetes API path as the API server's request
// info resolver does: /api/v1 or /apis/GROUP/VERSION, then
// [namespaces/NS/]RESOURCE[/NAME[/SUBRESOURCE]]. Paths outside the API
// (/healthz, /metrics) are not ok.
func parseAPIPath(path string) (apiPath, bool) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch parts[0] {
	case "version", "openapi":
		return apiPath{discovery: true}, true
	case "api":
		parts = parts[1:] // the core group's version follows
	case "apis":
		if len(parts) < 3 {
			return apiPath{discovery: true}, true // /apis, /apis/GROUP
		}
		parts = parts[2:]
	default:
		return apiPath{}, false
	}
	if len(parts) < 2 || parts[1] == "" {
		return apiPath{discovery: true}, true // /api, /api/v1, /apis/GROUP/VERSION
	}
	parts = parts[1:]
	var p apiPath
	if parts[0] == "watch" {
		p.watch = true
		parts = parts[1:]
	}
	// namespaces/NS/RESOURCE/...: a namespaced resource. namespaces,
	// namespaces/NS and namespaces/NS/{status,finalize}: the Namespace
	// itself.
	if len(parts) >= 3 && parts[0] == "namespaces" && parts[2] != "status" && parts[2] != "finalize" {
		parts = parts[2:]
	}
	if len(parts) == 0 {
		return apiPath{}, false
	}
	p.resource = parts[0]
	if len(parts) > 1 {
		p.name = parts[1]
	}
	if len(parts) > 2 {
		p.subresource = parts[2]
	}
	return p, true
}

// isApplyPatch reports whether a Content-Type is server-side apply's,
// whatever its parameters.
func isApplyPatch(contentType string) bool {
	mediaType, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mediaType), "application/apply-patch+yaml") ||
		strings.EqualFold(strings.TrimSpace(mediaType), "application/apply-patch+cbor")
}

func hasValue(values []string, want ...string) bool {
	for _, v := range values {
		for _, w := range want {
			if v == w {
				return true
			}
		}
	}
	return false
}
