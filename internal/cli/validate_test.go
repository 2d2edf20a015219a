package cli

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestValidatePolicySandbox: a repository policy calling http.send makes
// ferry validate exit 2 naming the policy file, the built-in and the flag,
// and the server receives nothing; with --allow-policy-network the policy
// runs, reaches the server and reports its finding (exit 1).
func TestValidatePolicySandbox(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "pong")
	}))
	defer srv.Close()
	repo := t.TempDir()
	mustWrite(t, filepath.Join(repo, "app", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n")
	mustWrite(t, filepath.Join(repo, "policies", "net.rego"), `package main

deny contains msg if {
	resp := http.send({"method": "GET", "url": "`+srv.URL+`"})
	msg := sprintf("the server said %s", [resp.raw_body])
}
`)

	out, err := ferry(t, "validate", repo)
	text := out + errText(err)
	if code := exitCodeOf(err); code != 2 {
		t.Errorf("ferry validate: exit %d, want 2; output %q", code, text)
	}
	for _, want := range []string{filepath.Join(repo, "policies", "net.rego") + ":4", "http.send", "--allow-policy-network"} {
		if !strings.Contains(text, want) {
			t.Errorf("ferry validate: output %q does not contain %q", text, want)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("ferry validate: the server received %d requests", n)
	}

	out, err = ferry(t, "validate", repo, "--allow-policy-network")
	if code := exitCodeOf(err); code != 1 || !strings.Contains(out, "the server said pong") {
		t.Errorf("ferry validate --allow-policy-network: exit %d (%v), want 1 with the policy's finding; output %q", code, err, out)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("ferry validate --allow-policy-network: the server received %d requests, want 1", n)
	}
}
