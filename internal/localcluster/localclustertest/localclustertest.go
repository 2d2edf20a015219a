// Package localclustertest starts local control planes for tests and proves
// they leave nothing behind: every process a cluster started must be gone
// when the test's cleanup has run.
package localclustertest

import (
	"context"
	"testing"
	"time"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// Start starts a cluster for t and registers a cleanup that stops it and
// fails t if any of its processes is still running. A missing binary fails
// the test with the hint to run `make kube`.
func Start(t testing.TB, opts localcluster.Options) *localcluster.Cluster {
	t.Helper()
	c, err := localcluster.Start(t.Context(), opts)
	if err != nil {
		t.Fatalf("start local cluster: %v", err)
	}
	pids := c.PIDs()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop local cluster: %v", err)
		}
		AssertExited(t, pids)
	})
	return c
}

// AssertExited fails t for every process in pids that is still alive.
func AssertExited(t testing.TB, pids map[string]int) {
	t.Helper()
	for name, pid := range pids {
		if localcluster.Alive(pid) {
			t.Errorf("%s (pid %d) is still running", name, pid)
		}
	}
}

// Eventually polls cond every 100ms until it returns true or timeout passes,
// then fails t with what cond last described.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	ticker := time.NewTicker(100 * time.Millisecond)
	defer ticker.Stop()
	var last string
	for {
		var ok bool
		ok, last = cond(ctx)
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %s; last seen: %s", what, timeout, last)
		case <-ticker.C:
		}
	}
}
