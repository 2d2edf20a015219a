package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/config/crd"
)

// Helpers the peers share: their manifests, processes and readiness.

// peerStartTimeout bounds the wait for each of a peer's processes.
const peerStartTimeout = time.Minute

// readManifests decodes every object of the YAML files in dir, in name
// order.
func readManifests(dir string) ([]*unstructured.Unstructured, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no YAML files in %s", dir)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		got, err := readManifestFile(f)
		if err != nil {
			return nil, err
		}
		objs = append(objs, got...)
	}
	return objs, nil
}

func readManifestFile(path string) ([]*unstructured.Unstructured, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeObjects(bufio.NewReader(f), path)
}

// decodeObjects decodes every object of a YAML (or JSON) stream; name
// says in an error what the stream was. Empty documents are skipped.
func decodeObjects(r io.Reader, name string) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objs []*unstructured.Unstructured
	for {
		obj := &unstructured.Unstructured{}
		if err := dec.Decode(&obj.Object); errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("decode %s: %w", name, err)
		}
		if len(obj.Object) > 0 {
			objs = append(objs, obj)
		}
	}
}

// startLogged starts cmd with its output in the file log.
func startLogged(cmd *exec.Cmd, log string) (*process, error) {
	f, err := os.Create(log)
	if err != nil {
		return nil, err
	}
	defer f.Close() // the child has its own descriptor
	cmd.Stdout, cmd.Stderr = f, f
	return startProcess(cmd)
}

// httpOK is a readiness test: a GET of url answers 200.
func httpOK(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
			return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
		}
		return nil
	}
}

// waitReady polls ready until it passes, p exits, or peerStartTimeout
// passes; the error names the process and quotes its log's end.
func waitReady(ctx context.Context, p *process, name, log string, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, peerStartTimeout)
	defer cancel()
	var last error
	for {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		last = ready(rctx)
		rcancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%s); its log's end:\n%s", name, p.cmd.ProcessState, logTail(log))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%v); its log's end:\n%s", name, peerStartTimeout, last, logTail(log))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// logTail is the end of the file log, for an error message.
func logTail(log string) string {
	out, err := os.ReadFile(log)
	if err != nil {
		return err.Error()
	}
	return string(out[max(0, len(out)-4000):])
}

// installCRDs server-side applies the CRDs in dir as their only owner,
// replacing any CRD of the same name, and waits until each is Established.
func installCRDs(ctx context.Context, c client.Client, dir string) error {
	objs, err := readManifests(dir)
	if err != nil {
		return fmt.Errorf("read the CRDs in %s: %w", dir, err)
	}
	for _, obj := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("bench"), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply CRD %s: %w", obj.GetName(), err)
		}
	}
	for _, obj := range objs {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err := crd.WaitEstablished(wctx, c, obj.GetName())
		cancel()
		if err != nil {
			return err
		}
	}
	return nil
}

// conditionTrue reports whether obj's status has the condition typ with
// status True.
func conditionTrue(obj *unstructured.Unstructured, typ string) bool {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, isMap := c.(map[string]any)
		if isMap && m["type"] == typ {
			return m["status"] == "True"
		}
	}
	return false
}

// logHasLine returns nil once a line of the file log contains every one
// of parts.
func logHasLine(log string, parts ...string) error {
	f, err := os.Open(log)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		if containsAll(sc.Text(), parts) {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", log, err)
	}
	return fmt.Errorf("no line of %s has %q yet", log, parts)
}

// containsAll reports whether s contains every one of parts.
func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
