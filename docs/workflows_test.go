// Package docs_test runs the guide: every `sh` block of workflows.md, in
// order, in one shell, against a local control plane the guide itself
// starts, so the guide fails `make test` the day it stops being true; and
// the README's quickstart the same way.
package docs_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// block is one fenced code block of a guide.
type block struct {
	line       int // of the opening fence
	lang       string
	text       string
	skip       bool     // preceded by <!-- test: skip ... -->
	quickstart bool     // preceded by <!-- quickstart --> (README.md runs only these)
	expect     []string // <!-- expect: TEXT --> lines after it
	// received: <!-- received: TEXT --> lines after it: a request the
	// test's alert receiver got by the end of the guide must contain TEXT.
	received []string
}

// readBlocks reads the fenced blocks of a Markdown file, with the test
// directives around them: `<!-- test: skip (why) -->` just before a block
// (the test does that step itself), `<!-- expect: TEXT -->` just after one
// (its output must contain TEXT), `<!-- received: TEXT -->` just after one
// (an alert the guide configures reaches the test's receiver with TEXT).
func readBlocks(path string) ([]block, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var blocks []block
	var cur *block
	skipNext, quickstartNext := false, false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur != nil && strings.HasPrefix(line, "```"):
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		case strings.HasPrefix(line, "```"):
			cur = &block{line: n, lang: strings.TrimSpace(strings.TrimPrefix(line, "```")), skip: skipNext, quickstart: quickstartNext}
			skipNext, quickstartNext = false, false
		case strings.HasPrefix(line, "<!-- quickstart -->"):
			quickstartNext = true
		case strings.HasPrefix(line, "<!-- test: skip"):
			skipNext = true
		case strings.HasPrefix(line, "<!-- expect:") || strings.HasPrefix(line, "<!-- received:"):
			if len(blocks) == 0 {
				return nil, fmt.Errorf("%s:%d: %s before any block", path, n, line)
			}
			kind, want, _ := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(line, "<!-- "), "-->"), ":")
			last := &blocks[len(blocks)-1]
			if kind == "expect" {
				last.expect = append(last.expect, strings.TrimSpace(want))
			} else {
				last.received = append(last.received, strings.TrimSpace(want))
			}
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("%s:%d: block not closed", path, cur.line)
	}
	return blocks, sc.Err()
}

// substitutions are what the test changes in the guide's commands: ports
// that other tests running at the same time may hold.
var substitutions = map[string]string{
	"ferry controller --allow-local-repositories": "ferry controller --allow-local-repositories --metrics-bind-address 127.0.0.1:0 --health-probe-bind-address 0 --webhook-bind-address 127.0.0.1:0",
}

// script makes one bash script of the runnable blocks: each block's output
// goes to a file, is printed, and is checked against its expectations; a
// failing command ends the script (set -e) with that block's output.
func script(path string, blocks []block, outDir string) string {
	var b strings.Builder
	b.WriteString("set -euo pipefail\ncur=0\n")
	fmt.Fprintf(&b, "trap 'rc=$?; if [ $rc -ne 0 ]; then echo \"--- %s block $cur failed (exit $rc); its output:\"; cat %s/$cur.out 2>/dev/null; fi' EXIT\n", path, outDir)
	for i, bl := range blocks {
		if bl.lang != "sh" || bl.skip {
			continue
		}
		text := bl.text
		for from, to := range substitutions {
			text = strings.ReplaceAll(text, from, to)
		}
		out := fmt.Sprintf("%s/%d.out", outDir, i)
		fmt.Fprintf(&b, "cur=%d\necho '=== %s:%d'\n{\n%s} > %s 2>&1 < /dev/null\ncat %s\n", i, path, bl.line, text, out, out)
		for _, want := range bl.expect {
			q := strings.ReplaceAll(want, "'", `'\''`)
			fmt.Fprintf(&b, "grep -qF -- '%s' %s || { echo '--- %s:%d: the output lacks %q'; exit 1; }\n", q, out, path, bl.line, q)
		}
	}
	return b.String()
}

// TestWorkflowsGuide runs docs/workflows.md.
func TestWorkflowsGuide(t *testing.T) {
	t.Parallel()
	blocks, err := readBlocks("workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	runGuide(t, "docs/workflows.md", blocks)
}

// TestReadmeQuickstart runs the README's five-minute quickstart.
func TestReadmeQuickstart(t *testing.T) {
	t.Parallel()
	blocks, err := readBlocks("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var quick []block
	for _, b := range blocks {
		if b.quickstart {
			quick = append(quick, b)
		}
	}
	if len(quick) == 0 {
		t.Fatal("README.md has no <!-- quickstart --> block")
	}
	runGuide(t, "README.md", quick)
}

// runGuide runs blocks of the file path as a reader would, in a fresh home
// directory, with ferry and kubectl on PATH, a registry and an alert
// receiver on loopback, and stops what they started.
func runGuide(t *testing.T, path string, blocks []block) {
	kubeDir := localcluster.DefaultBinDir()
	if _, err := os.Stat(filepath.Join(kubeDir, "kubectl")); err != nil {
		t.Skipf("no control-plane binaries in %s (make kube): %v", kubeDir, err)
	}
	bin := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(bin, "ferry"), "../cmd/ferry").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	registryHost := startRegistry(t, "backend", "1.0.0", "1.1.0", "1.2.0")
	alerts := startReceiver(t)
	home, outDir := t.TempDir(), t.TempDir()
	tmp := filepath.Join(home, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"HOME=" + home,
		"TMPDIR=" + tmp,
		"PATH=" + bin + ":" + kubeDir + ":" + os.Getenv("PATH"),
		"GIT_AUTHOR_NAME=Guide Reader", "GIT_AUTHOR_EMAIL=reader@example.com",
		"GIT_COMMITTER_NAME=Guide Reader", "GIT_COMMITTER_EMAIL=reader@example.com",
		localcluster.EnvBinDir + "=" + kubeDir,
		"REGISTRY=" + registryHost,
		"ALERTS_URL=" + alerts.url,
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); k == "FERRY_TEST_RUN" || k == "GOCACHE" || k == "GOPATH" || k == "GOFLAGS" {
			env = append(env, kv)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 12*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script(path, blocks, outDir))
	cmd.Dir, cmd.Env = home, env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	t.Cleanup(func() {
		// What the guide started: its local control planes (each a
		// ~/ferry-* directory with a kubeconfig), and the controller it ran
		// in the background (in the script's process group).
		dirs, _ := filepath.Glob(filepath.Join(home, "ferry-*", "kubeconfig"))
		for _, kc := range dirs {
			stop := exec.Command(filepath.Join(bin, "ferry"), "local", "stop", "--dir", filepath.Dir(kc))
			stop.Env = env
			if out, err := stop.CombinedOutput(); err != nil {
				t.Logf("ferry local stop: %v\n%s", err, out)
			}
		}
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		}
	})
	out, err := cmd.CombinedOutput()
	if err != nil {
		var clog []byte
		_ = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Name() == "controller.log" {
				clog, _ = os.ReadFile(p)
			}
			return nil
		})
		t.Fatalf("%s failed: %v\n%s\n--- controller.log (last 3 KiB) ---\n%s", path, err, out, tail(clog, 3072))
	}
	t.Logf("%s", out)
	defer func() { t.Logf("alerts received: %q", alerts.all()) }()
	for _, bl := range blocks {
		for _, want := range bl.received {
			deadline := time.Now().Add(30 * time.Second)
			for !alerts.got(want) && time.Now().Before(deadline) {
				time.Sleep(200 * time.Millisecond)
			}
			if !alerts.got(want) {
				t.Errorf("%s:%d: no alert containing %q reached the receiver; it got %q", path, bl.line, want, alerts.all())
			}
		}
	}
}

// receiver records the bodies of the requests sent to it.
type receiver struct {
	url    string
	mu     sync.Mutex
	bodies []string
}

func startReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(io.LimitReader(req.Body, 1<<20))
		r.mu.Lock()
		r.bodies = append(r.bodies, string(b))
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.url = srv.URL + "/alerts"
	return r
}

func (r *receiver) got(text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bodies {
		if strings.Contains(b, text) {
			return true
		}
	}
	return false
}

func (r *receiver) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...)
}

// startRegistry serves an OCI registry on loopback with an image repo at
// each of tags, and returns its host:port.
func startRegistry(t *testing.T, repo string, tags ...string) string {
	t.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, tag := range tags {
		img, err := random.Image(256, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(host + "/" + repo + ":" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img, remote.WithContext(t.Context())); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
