package chartrepo

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestNormalizeURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://Charts.Example.com/Stable/", "https://charts.example.com/Stable"},
		{"  https://charts.example.com  ", "https://charts.example.com"},
		{"HTTPS://charts.example.com:8443/x", "https://charts.example.com:8443/x"},
		{"https://alice:pw@charts.example.com/x", "https://charts.example.com/x"},
		{"http://127.0.0.1:8080/charts//", "http://127.0.0.1:8080/charts"},
		{"oci://GHCR.io/Org/charts/", "oci://ghcr.io/Org/charts"},
		{"ghcr.io/org/charts", "ghcr.io/org/charts"},
		{"Registry.Example.com:5000/charts/", "registry.example.com:5000/charts"},
	}
	for _, tt := range tests {
		got, err := NormalizeURL(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("NormalizeURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			continue
		}
		if again, err := NormalizeURL(got); err != nil || again != got {
			t.Errorf("NormalizeURL is not idempotent on %q: %q, %v", got, again, err)
		}
	}
}

// TestRefused checks that what Ferry may not read is refused before any
// connection, with ErrRefused.
func TestRefused(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	r, _ := newTestRepos(Options{})
	for _, u := range []string{
		"",
		"file:///etc/charts",
		"ssh://git@example.com/charts",
		"git://example.com/charts",
		"s3://bucket/charts",
		"/var/charts",
		"./charts",
		"charts.example.com/charts", // no scheme, no enableOCI
		host + "/charts",            // the same, on loopback
		"http://charts.example.com", // plain HTTP off loopback
		"https://charts.example.com/x?token=abc",
		"https://charts.example.com/x#frag",
		"https://charts\nexample.com",
		"oci://charts/app", // a bare registry name would mean Docker Hub
		"http://169.254.169.254/charts",
	} {
		_, err := r.Resolve(t.Context(), u, "app", "*", false)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("Resolve(%q) = %v; want ErrRefused", u, err)
		}
		if strings.Contains(u, "token=abc") && strings.Contains(err.Error(), "abc") {
			t.Errorf("Resolve(%q) shows the query: %v", u, err)
		}
	}
	for _, chart := range []string{"", "../app", "a/../b", "app?x"} {
		if _, err := r.Resolve(t.Context(), srv.URL, chart, "*", false); err == nil {
			t.Errorf("Resolve(chart %q) succeeded", chart)
		}
	}
	if _, err := r.Resolve(t.Context(), srv.URL, "app", "not a version", false); !errors.Is(err, ErrRefused) {
		t.Errorf("Resolve(invalid constraint) = %v; want ErrRefused", err)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}

	// Allowed: plain HTTP off loopback when told (refused here at dial
	// time instead, by the network policy, for the metadata address).
	r, _ = newTestRepos(Options{AllowInsecureHTTP: true})
	if _, err := r.Resolve(t.Context(), "http://169.254.169.254/charts", "app", "*", false); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "link-local") {
		t.Errorf("metadata address with AllowInsecureHTTP: %v; want the netguard refusal", err)
	}
}

func TestIsOCI(t *testing.T) {
	oci := &Credentials{EnableOCI: true}
	for _, tt := range []struct {
		url   string
		creds *Credentials
		want  bool
	}{
		{"oci://ghcr.io/org", nil, true},
		{"OCI://ghcr.io/org", nil, true},
		{"ghcr.io/org", oci, true},
		{"ghcr.io/org", nil, false},
		{"ghcr.io/org", &Credentials{}, false},
		{"https://ghcr.io/org", oci, false},
	} {
		if got := IsOCI(tt.url, tt.creds); got != tt.want {
			t.Errorf("IsOCI(%q, %+v) = %v, want %v", tt.url, tt.creds, got, tt.want)
		}
	}
}

// FuzzNormalizeURL checks that NormalizeURL never panics, is idempotent,
// and never keeps user information.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{"https://a:b@host/x/", "oci://host/p", "host:5000/p", "file:///x", "http://[::1]:80/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := NormalizeURL(s)
		if err != nil {
			return
		}
		if strings.Contains(n, "@") && strings.Contains(s, "@") && strings.Index(n, "@") < strings.Index(n+"/", "/") {
			t.Errorf("NormalizeURL(%q) = %q keeps user information", s, n)
		}
		if again, err := NormalizeURL(n); err != nil || again != n {
			t.Errorf("NormalizeURL(%q) = %q, then %q, %v", s, n, again, err)
		}
	})
}
