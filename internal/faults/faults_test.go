// Package faults_test runs Ferry through the faults a production install
// meets — a replica killed, the API server gone for a while — each on a
// local control plane of its own, with the controller as a separate
// process where the fault is the process's death; and checks that the
// controller binary, run with its defaults, keeps the boundaries it
// promises.
package faults_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	localclustertest.RemoveFerryBinary()
	os.Exit(code)
}

// replica is a `ferry controller` process.
type replica struct {
	name    string
	cmd     *exec.Cmd
	metrics string // the /metrics URL
	log     string
	done    chan struct{}
}

// startReplica starts a controller process against c with its defaults and
// extra flags (tests reading repositories over file:// pass
// --allow-local-repositories); the test's cleanup stops it.
func startReplica(t *testing.T, c *localcluster.Cluster, name string, extra ...string) *replica {
	t.Helper()
	bin := localclustertest.FerryBinary(t)
	port := freePort(t)
	dir := t.TempDir()
	r := &replica{name: name, metrics: fmt.Sprintf("http://127.0.0.1:%d/metrics", port), log: filepath.Join(dir, "controller.log"), done: make(chan struct{})}
	logFile, err := os.Create(r.log)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"controller", "--kubeconfig", c.KubeconfigPath(), "--context", localcluster.UserContext,
		"--metrics-bind-address", fmt.Sprintf("127.0.0.1:%d", port), "--health-probe-bind-address", "0", "--webhook-bind-address", "0",
		"--cache-dir", filepath.Join(dir, "git"), "--poll-interval", "2s"}, extra...)
	r.cmd = exec.Command(bin, args...)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { _ = r.cmd.Wait(); logFile.Close(); close(r.done) }()
	t.Cleanup(func() {
		r.kill(syscall.SIGTERM)
		if t.Failed() {
			b, _ := os.ReadFile(r.log)
			t.Logf("--- %s log (last 4 KiB) ---\n%s", name, tail(b, 4096))
		}
	})
	return r
}

// kill sends sig and waits for the process to exit (SIGKILL after 10 s).
func (r *replica) kill(sig syscall.Signal) {
	select {
	case <-r.done:
		return
	default:
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// metric returns the sum of a metric family's samples whose labels include
// every label in match, and whether the endpoint answered.
func (r *replica) metric(ctx context.Context, family string, match map[string]string) (float64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.metrics, nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	return sumSamples(resp.Body, family, match), true
}

// sumSamples reads Prometheus' text format: lines "name{l="v",...} value".
func sumSamples(r io.Reader, family string, match map[string]string) float64 {
	sum := 0.0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, family) {
			continue
		}
		rest := line[len(family):]
		labels := ""
		if strings.HasPrefix(rest, "{") {
			end := strings.Index(rest, "}")
			if end < 0 {
				continue
			}
			labels, rest = rest[1:end], rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // another family sharing the prefix
		}
		ok := true
		for k, v := range match {
			if !strings.Contains(","+labels+",", ","+k+"=\""+v+"\",") {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64); err == nil {
			sum += f
		}
	}
	return sum
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// createApp creates, once the controller has installed its CRDs, the
// Application name of repo's directory app (read over file://) into
// namespace ns of the local cluster, with policy.
func createApp(t *testing.T, cl client.Client, name string, repo *gitRepo, ns string, policy *v1alpha1.SyncPolicy) *v1alpha1.Application {
	t.Helper()
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: "file://" + repo.dir, TargetRevision: "main", Path: "app"},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: ns},
			SyncPolicy:  policy,
		},
	}
	localclustertest.Eventually(t, 2*time.Minute, "the controller's CRDs", func(ctx context.Context) (bool, string) {
		err := cl.Create(ctx, app)
		return err == nil, fmt.Sprint(err)
	})
	return app
}

// notRemade checks that each object of before is still there with its UID:
// not deleted and made again.
func notRemade(t *testing.T, cl client.Client, before ...client.Object) {
	t.Helper()
	for _, b := range before {
		now := b.DeepCopyObject().(client.Object)
		if err := cl.Get(t.Context(), client.ObjectKeyFromObject(b), now); err != nil {
			t.Errorf("%T %s: %v", b, client.ObjectKeyFromObject(b), err)
		} else if now.GetUID() != b.GetUID() {
			t.Errorf("%T %s was deleted and made again (uid %s, was %s)", b, client.ObjectKeyFromObject(b), now.GetUID(), b.GetUID())
		}
	}
}

// noPanic fails the test if r's log shows a panic.
func (r *replica) noPanic(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(r.log); err == nil && strings.Contains(string(b), "panic") {
		t.Errorf("%s panicked:\n%s", r.name, tail(b, 4096))
	}
}
