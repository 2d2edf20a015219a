package main_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMakeBuildStampsTheVersion: the binary `make build` makes knows its
// version and commit (`ferry version` printed "(devel)" before).
func TestMakeBuildStampsTheVersion(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	bin := filepath.Join(t.TempDir(), "ferry")
	if out, err := run(t, "make", "-C", "../..", "build", "BIN="+bin); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := run(t, bin, "version", "-o", "json")
	if err != nil {
		t.Fatalf("ferry version: %v\n%s", err, out)
	}
	var v struct{ Version, Commit, GoVersion string }
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("ferry version -o json: %v\n%s", err, out)
	}
	head, err := run(t, "git", "rev-parse", "HEAD")
	if err != nil {
		t.Skipf("not a git checkout: %s", head)
	}
	if v.Version == "" || v.Version == "(devel)" || v.Commit != strings.TrimSpace(head) || v.GoVersion == "" {
		t.Errorf("ferry version = %+v, want a version other than (devel), commit %s and the Go version", v, strings.TrimSpace(head))
	}
	text, err := run(t, bin, "version")
	if err != nil || !strings.HasPrefix(text, "ferry "+v.Version+"\n") {
		t.Errorf("ferry version = %q (%v), want it to start with %q", text, err, "ferry "+v.Version)
	}
}
