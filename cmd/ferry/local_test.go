package main_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// buildFerry builds the ferry binary: `local start` re-executes its own
// binary as the supervisor, so the test needs the real one, not the test
// binary.
func buildFerry(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "ferry")
	out, err := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	return runCtx(t.Context(), name, args...)
}

func runCtx(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestLocalStartGetNodesStop(t *testing.T) {
	ferry := buildFerry(t)
	dir := t.TempDir()
	var pids map[string]int
	t.Cleanup(func() {
		// Stop again in case the test failed half-way, then prove nothing survived.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if out, err := runCtx(ctx, ferry, "local", "stop", "--dir", dir); err != nil {
			t.Errorf("cleanup stop: %v\n%s", err, out)
		}
		localclustertest.AssertExited(t, pids)
	})

	out, err := run(t, ferry, "local", "start", "--dir", dir, "--nodes", "3")
	if err != nil {
		t.Fatalf("ferry local start: %v\n%s", err, out)
	}
	if !strings.Contains(out, "kubectl get nodes") || !strings.Contains(out, "ferry local stop --dir") {
		t.Errorf("start does not say how to use and stop the cluster:\n%s", out)
	}
	s, err := localcluster.ReadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	pids = map[string]int{"supervisor": s.SupervisorPID}
	for name, pid := range s.Components {
		pids[name] = pid
	}

	kubectl := filepath.Join(s.BinDir, "kubectl")
	out, err = run(t, kubectl, "--kubeconfig", filepath.Join(dir, "kubeconfig"), "get", "nodes", "--no-headers")
	if err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("kubectl get nodes lists %d nodes, want 3:\n%s", len(lines), out)
	}
	for _, line := range lines {
		if fields := strings.Fields(line); len(fields) < 2 || fields[1] != "Ready" {
			t.Errorf("node not Ready: %q", line)
		}
	}

	out, err = run(t, ferry, "local", "status", "--dir", dir)
	if err != nil || !strings.Contains(out, "nodes Ready: 3/3") {
		t.Errorf("ferry local status: %v\n%s", err, out)
	}
	out, err = run(t, ferry, "local", "start", "--dir", dir)
	if err == nil || !strings.Contains(out, "already running") {
		t.Errorf("second start in the same directory: %v\n%s", err, out)
	}

	out, err = run(t, ferry, "local", "stop", "--dir", dir)
	if err != nil || !strings.Contains(out, "Stopped") {
		t.Fatalf("ferry local stop: %v\n%s", err, out)
	}
	localclustertest.AssertExited(t, pids)
	if _, err := os.Stat(filepath.Join(dir, localcluster.StateFile)); !os.IsNotExist(err) {
		t.Errorf("state file left after stop: %v", err)
	}
	out, err = run(t, ferry, "local", "status", "--dir", dir)
	if err == nil || !strings.Contains(out, "No local control plane") {
		t.Errorf("status after stop: %v\n%s", err, out)
	}
}

func TestLocalStartWithoutBinariesNamesMakeKube(t *testing.T) {
	ferry := buildFerry(t)
	out, err := run(t, ferry, "local", "start", "--dir", t.TempDir(), "--kube-dir", t.TempDir())
	if err == nil || !strings.Contains(out, "make kube") {
		t.Errorf("start without binaries: err=%v, output does not name `make kube`:\n%s", err, out)
	}
}
