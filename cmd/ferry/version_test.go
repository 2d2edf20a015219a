package main_test

import (
	"encoding/json"
	"fmt"
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
	head, err := run(t, "git", "rev-parse", "HEAD")
	if err != nil {
		t.Skipf("not a git checkout: %s", head)
	}
	// `make test` runs `make build` first: its bin/ferry is this commit's,
	// and linking another would only cost time. Anything else (no binary,
	// an older one) is built here the same way.
	bin := "../../bin/ferry"
	v, err := versionOf(t, bin)
	if err != nil || v.Commit != strings.TrimSpace(head) {
		bin = filepath.Join(t.TempDir(), "ferry")
		if out, err := run(t, "make", "-C", "../..", "build", "BIN="+bin); err != nil {
			t.Fatalf("make build: %v\n%s", err, out)
		}
		if v, err = versionOf(t, bin); err != nil {
			t.Fatal(err)
		}
	}
	if v.Version == "" || v.Version == "(devel)" || v.Commit != strings.TrimSpace(head) || v.GoVersion == "" {
		t.Errorf("ferry version = %+v, want a version other than (devel), commit %s and the Go version", v, strings.TrimSpace(head))
	}
	text, err := run(t, bin, "version")
	if err != nil || !strings.HasPrefix(text, "ferry "+v.Version+"\n") {
		t.Errorf("ferry version = %q (%v), want it to start with %q", text, err, "ferry "+v.Version)
	}
}

type version struct{ Version, Commit, GoVersion string }

// versionOf runs bin version -o json.
func versionOf(t *testing.T, bin string) (version, error) {
	t.Helper()
	var v version
	out, err := run(t, bin, "version", "-o", "json")
	if err != nil {
		return v, fmt.Errorf("%s version: %v\n%s", bin, err, out)
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		return v, fmt.Errorf("%s version -o json: %v\n%s", bin, err, out)
	}
	return v, nil
}
