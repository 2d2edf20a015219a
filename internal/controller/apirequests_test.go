package controller

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"k8s.io/client-go/rest"
)

// TestRequestKind checks the classification of the requests client-go
// sends for each kind ferry_api_requests_total counts.
func TestRequestKind(t *testing.T) {
	const (
		apply = "application/apply-patch+yaml"
		merge = "application/merge-patch+json"
	)
	for _, tc := range []struct {
		method, url, contentType string
		want                     string
	}{
		// Server-side apply, and its dry-run (the differ's comparison).
		{"PATCH", "/api/v1/namespaces/ns/serviceaccounts/sa?fieldManager=ferry&force=true", apply, requestApply},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d?fieldManager=ferry&force=true", apply + "; charset=utf-8", requestApply},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d?fieldManager=ferry", "application/apply-patch+cbor", requestApply},
		{"PATCH", "/apis/apps/v1/namespaces/ns/deployments/d?dryRun=All&fieldManager=ferry&force=true", apply, requestDryRun},
		{"POST", "/api/v1/namespaces/ns/configmaps?dryRun=All", "application/json", requestDryRun},
		{"DELETE", "/api/v1/namespaces/ns/configmaps/cm?dryRun=All", "", requestDryRun},
		{"PATCH", "/api/v1/namespaces/ns/configmaps/cm?dryRun=None", apply, requestApply},
		// Status: a subresource, however written.
		{"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/app/status", merge, requestStatus},
		{"PUT", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/app/status", "application/json", requestStatus},
		{"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/app/status?fieldManager=ferry", apply, requestStatus},
		{"PUT", "/api/v1/namespaces/ns/status", "application/json", requestStatus}, // a Namespace's own status
		{"GET", "/apis/apps/v1/namespaces/ns/deployments/d/status", "", requestGet},
		// Events, both APIs.
		{"POST", "/apis/events.k8s.io/v1/namespaces/argocd/events", "application/json", requestEvent},
		{"PATCH", "/apis/events.k8s.io/v1/namespaces/argocd/events/app.1234", merge, requestEvent},
		{"POST", "/api/v1/namespaces/argocd/events", "application/json", requestEvent},
		{"PATCH", "/api/v1/namespaces/argocd/events/app.1234", "application/strategic-merge-patch+json", requestEvent},
		{"GET", "/api/v1/namespaces/argocd/events", "", requestList},
		// Other writes.
		{"POST", "/api/v1/namespaces", "application/json", requestCreate},
		{"POST", "/api/v1/namespaces/ns/configmaps", "application/json", requestCreate},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/argocd/leases/ferry-controller", "application/json", requestUpdate},
		{"PATCH", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications/app", merge, requestPatch},
		{"PATCH", "/api/v1/namespaces/ns/configmaps/cm", "application/json-patch+json", requestPatch},
		{"PATCH", "/api/v1/namespaces/ns", "application/strategic-merge-patch+json", requestPatch},
		{"DELETE", "/apis/apps/v1/namespaces/ns/deployments/d", "", requestDelete},
		{"DELETE", "/api/v1/namespaces/ns/configmaps?labelSelector=a%3Db", "", requestDelete},
		// Reads.
		{"GET", "/api/v1/namespaces/ns/configmaps/cm", "", requestGet},
		{"GET", "/api/v1/namespaces/ns", "", requestGet},
		{"GET", "/api/v1/nodes/n1", "", requestGet},
		{"GET", "/apis/argoproj.io/v1alpha1/namespaces/argocd/applications?limit=500", "", requestList},
		{"GET", "/api/v1/namespaces", "", requestList},
		{"GET", "/apis/apps/v1/deployments?resourceVersion=0", "", requestList},
		{"GET", "/apis/apps/v1/deployments?allowWatchBookmarks=true&resourceVersion=12&watch=true", "", requestWatch},
		{"GET", "/api/v1/namespaces/ns/configmaps?watch=1", "", requestWatch},
		{"GET", "/api/v1/watch/namespaces/ns/configmaps", "", requestWatch},
		// Discovery.
		{"GET", "/api", "", requestDiscovery},
		{"GET", "/api/v1", "", requestDiscovery},
		{"GET", "/apis", "", requestDiscovery},
		{"GET", "/apis/apps", "", requestDiscovery},
		{"GET", "/apis/apps/v1", "", requestDiscovery},
		{"GET", "/version?timeout=5s", "", requestDiscovery},
		{"GET", "/openapi/v3", "", requestDiscovery},
		{"GET", "/openapi/v3/apis/apps/v1?hash=ABC", "", requestDiscovery},
		{"GET", "/openapi/v2", "", requestDiscovery},
		// Anything else.
		{"GET", "/healthz", "", requestOther},
		{"GET", "/", "", requestOther},
		{"OPTIONS", "/api/v1/namespaces/ns/configmaps", "", requestOther},
	} {
		req := httptest.NewRequest(tc.method, "https://127.0.0.1:6443"+tc.url, nil)
		if tc.contentType != "" {
			req.Header.Set("Content-Type", tc.contentType)
		}
		if got := requestKind(req); got != tc.want {
			t.Errorf("%s %s (%s): %q, want %q", tc.method, tc.url, tc.contentType, got, tc.want)
		}
	}
}

// TestCountAPIRequests checks that a client built on the counting config
// counts its requests, and that the config it was made from is left as it
// was.
func TestCountAPIRequests(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"major":"1","minor":"37","gitVersion":"v1.37.2"}`))
	}))
	defer srv.Close()
	base := &rest.Config{Host: srv.URL}
	counted := map[string]int{}
	cfg := countAPIRequests(base, func(kind string) { counted[kind]++ })
	if base.WrapTransport != nil {
		t.Fatal("countAPIRequests changed the config it was given")
	}
	for _, c := range []*rest.Config{cfg, rest.CopyConfig(cfg)} {
		hc, err := rest.HTTPClientFor(c)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(srv.URL + "/version")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
	}
	if counted[requestDiscovery] != 2 || len(counted) != 1 {
		t.Errorf("counted %v, want 2 discovery requests", counted)
	}
}
