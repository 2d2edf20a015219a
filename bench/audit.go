package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// The side-by-side benchmark counts every engine's API requests the same
// way: from the API server's audit log, written for the non-admin user the
// engines run as and for nobody else. An engine's own metrics would count
// differently in each (Argo CD's and Flux's client metrics have no request
// kinds), and the audit log sees every request, whichever client made it.

// auditArgs are kube-apiserver's flags for an audit log of the engines'
// user's requests, written in dir.
func auditArgs(dir string) ([]string, string, error) {
	policy := fmt.Sprintf(`apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    users: [%q]
  - level: None
`, localcluster.UserName)
	policyFile := filepath.Join(dir, "audit-policy.yaml")
	if err := os.WriteFile(policyFile, []byte(policy), 0o644); err != nil {
		return nil, "", err
	}
	logFile := filepath.Join(dir, "audit.log")
	return []string{"--audit-policy-file=" + policyFile, "--audit-log-path=" + logFile,
		"--audit-log-format=json", "--audit-log-maxsize=0", "--audit-log-maxbackup=0"}, logFile, nil
}

// auditEvent is what the benchmark reads of an audit.k8s.io/v1 Event.
type auditEvent struct {
	Stage      string `json:"stage"`
	Verb       string `json:"verb"`
	RequestURI string `json:"requestURI"`
	ObjectRef  *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
}

// auditKinds are the request kinds the table prints, in order.
func auditKinds() []string {
	return []string{"apply", "patch", "create", "update", "delete", "dry-run", "own objects", "event", "lease", "get", "list", "watch"}
}

// isManagedWrite reports whether requests of a kind change managed objects.
func isManagedWrite(kind string) bool {
	switch kind {
	case "apply", "patch", "create", "update", "delete":
		return true
	}
	return false
}

// ownGroups are the API groups of the engines' own objects (Applications,
// Kustomizations, GitRepositories): their writes are status and
// bookkeeping, counted as "own objects".
var ownGroups = map[string]bool{"argoproj.io": true, "kustomize.toolkit.fluxcd.io": true, "source.toolkit.fluxcd.io": true}

// kind classifies a request; "" for a stage not counted (a watch is
// counted when it starts, everything else when it completes).
func (e *auditEvent) kind() string {
	if e.Verb == "watch" {
		if e.Stage != "ResponseStarted" {
			return ""
		}
		return "watch"
	}
	if e.Stage != "ResponseComplete" && e.Stage != "Panic" {
		return ""
	}
	var resource, group string
	if e.ObjectRef != nil {
		resource, group = e.ObjectRef.Resource, e.ObjectRef.APIGroup
	}
	switch {
	case e.Verb == "get" || e.Verb == "list":
		return e.Verb
	case strings.Contains(e.RequestURI, "dryRun="):
		return "dry-run"
	case resource == "events":
		return "event"
	case resource == "leases":
		return "lease"
	case ownGroups[group]:
		return "own objects"
	case e.Verb == "patch" && strings.Contains(e.RequestURI, "force=true"):
		return "apply" // server-side apply (Ferry, Flux) sends force=true
	case e.Verb == "patch", e.Verb == "create", e.Verb == "update", e.Verb == "delete":
		return e.Verb
	case e.Verb == "deletecollection":
		return "delete"
	}
	return "get" // other read verbs
}

// requestCounts are requests by kind.
type requestCounts map[string]float64

func (c requestCounts) total() float64 {
	var n float64
	for _, v := range c {
		n += v
	}
	return n
}

func (c requestCounts) managedWrites() float64 {
	var n float64
	for k, v := range c {
		if isManagedWrite(k) {
			n += v
		}
	}
	return n
}

func (c requestCounts) per(n int) requestCounts {
	out := requestCounts{}
	for k, v := range c {
		out[k] = v / float64(n)
	}
	return out
}

// auditReader reads an audit log from where it last stopped.
type auditReader struct {
	path   string
	offset int64
}

// next counts the requests logged since the last call, by kind. A line
// being written (no newline yet) is left for the next call.
func (a *auditReader) next() (requestCounts, error) {
	f, err := os.Open(a.path)
	if errors.Is(err, os.ErrNotExist) {
		return requestCounts{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return nil, err
	}
	counts := requestCounts{}
	r := bufio.NewReaderSize(f, 1<<20)
	for {
		line, err := r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return counts, nil // a partial line is read again next time
		}
		if err != nil {
			return nil, err
		}
		a.offset += int64(len(line))
		var e auditEvent
		if err := json.Unmarshal(line, &e); err != nil {
			return nil, fmt.Errorf("audit log %s at byte %d: %w", a.path, a.offset, err)
		}
		if k := e.kind(); k != "" {
			counts[k]++
		}
	}
}
