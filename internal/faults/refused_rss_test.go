package faults_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// TestRefusedRepositoryControllerRSS measures, when FERRY_REFUSED_REPO_MIB
// is set, the controller process's resident memory while an Application
// points at a repository of that many MiB of random files, over the
// controller's default per-revision limit (256 MiB), so every read of it
// is refused. Each hard refresh makes the controller read the revision
// again (a refusal is otherwise remembered); VmRSS is sampled after each.
// It asserts nothing: it reports the figure quoted in docs/benchmarks.md.
//
//	FERRY_REFUSED_REPO_MIB=300 go test ./internal/faults -run TestRefusedRepositoryControllerRSS -v -count=1
func TestRefusedRepositoryControllerRSS(t *testing.T) {
	repoMiB, _ := strconv.Atoi(os.Getenv("FERRY_REFUSED_REPO_MIB"))
	if repoMiB <= 0 {
		t.Skip("set FERRY_REFUSED_REPO_MIB to measure")
	}
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	cl := newClient(t, c)
	repo := newGitRepo(t)
	start := time.Now()
	rnd := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, 512<<10)
	for i := range repoMiB * 2 {
		_, _ = rnd.Read(buf)
		p := filepath.Join(repo.dir, "app", fmt.Sprintf("d%03d", i/100), fmt.Sprintf("f%05d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	repo.commit("random files", nil)
	t.Logf("wrote a %d MiB repository in %s", repoMiB, time.Since(start).Round(time.Second))

	r := startReplica(t, c, "controller", "--allow-local-repositories")
	app := createApp(t, cl, "big", repo, "default", nil)
	refused := func(ctx context.Context) (bool, string) {
		got := &v1alpha1.Application{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err.Error()
		}
		if _, asked := got.Annotations["argocd.argoproj.io/refresh"]; asked {
			return false, "refresh not taken yet"
		}
		for _, cond := range got.Status.Conditions {
			if strings.Contains(cond.Message, "snapshot too large") {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", got.Status.Conditions)
	}
	localclustertest.Eventually(t, 5*time.Minute, "the revision refused", refused)
	var samples []string
	samples = append(samples, "after 1: "+vmRSS(t, r))
	for i := 2; i <= 10; i++ {
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"hard"}}}`))
		if err := cl.Patch(t.Context(), app, patch); err != nil {
			t.Fatal(err)
		}
		localclustertest.Eventually(t, 5*time.Minute, "the revision refused again", refused)
		samples = append(samples, fmt.Sprintf("after %d: %s", i, vmRSS(t, r)))
	}
	t.Logf("controller VmRSS with a %d MiB repository refused (%s): %s; VmHWM %s", repoMiB, time.Since(start).Round(time.Second),
		strings.Join(samples, ", "), procStatus(t, r, "VmHWM"))
}

func vmRSS(t *testing.T, r *replica) string { return procStatus(t, r, "VmRSS") }

// procStatus reads one field of /proc/<pid>/status of r's process.
func procStatus(t *testing.T, r *replica, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}
