package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var allProviders = []*provider{github, gitlab, gitea, gogs, bitbucketServer, bitbucketCloud, generic, registry}

// parseErrors are the only errors a parser may return (so a 400 never
// echoes input).
var parseErrors = []error{errMalformed, errNoURL, errNoRef, errRef, errRefName, errCommit,
	errNoChanges, errBranchAndTag, errImage, errImageTag, errFormNoPayload}

func fixtures(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

func FuzzParsePayload(f *testing.F) {
	for _, b := range fixtures(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{"ref":"refs/heads/\u0000","repository":{"clone_url":"https://h/r"}}`,
		`{"changes":[{"ref":{"type":"BRANCH","displayId":""}}],"repository":{"links":{"clone":[{"href":"git@h:r"}]}}}`,
		`{"push":{"changes":[{"new":null,"old":{"type":"tag","name":"v1"}}]},"repository":{"full_name":"a/b"}}`,
		`{"repository":"https://u:p@h/r.git","branch":"refs/heads/x","after":"abc"}`,
		`{"image":"h:1/a","tag":"."}`, `null`, `[]`, `"x"`, `{"project":{"git_http_url":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, p := range allProviders {
			ev, err := p.parse(data)
			checkParsed(t, p.name, ev, err)
		}
		form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		if payload, err := formPayload(form, data); err == nil {
			ev, err := parseGitHub(payload)
			checkParsed(t, "github-form", ev, err)
		}
	})
}

// checkParsed asserts a parser's result is either a known error or a
// well-formed event.
func checkParsed(t *testing.T, name string, ev parsed, err error) {
	t.Helper()
	if err != nil {
		if !slices.Contains(parseErrors, err) {
			t.Fatalf("%s: unexpected error %v", name, err)
		}
		if ev.count() != 0 {
			t.Fatalf("%s: error with an event", name)
		}
		return
	}
	if ev.image != nil {
		if !validImage(ev.image.Image) || !validImageTag(ev.image.Tag) {
			t.Fatalf("%s: invalid image push %+v", name, *ev.image)
		}
		return
	}
	if len(ev.pushes) == 0 || len(ev.pushes) > maxPushes {
		t.Fatalf("%s: %d pushes", name, len(ev.pushes))
	}
	for _, p := range ev.pushes {
		checkPush(t, name, p)
	}
}

func checkPush(t *testing.T, name string, p Push) {
	t.Helper()
	if (p.Branch == "") == (p.Tag == "") {
		t.Fatalf("%s: want exactly one of branch and tag: %+v", name, p)
	}
	if !validRefName(p.Branch+p.Tag) || !validCommit(p.After) || len(p.URLs) == 0 {
		t.Fatalf("%s: invalid push %+v", name, p)
	}
	for _, u := range p.URLs {
		if u == "" || cleanURL(u) != u {
			t.Fatalf("%s: unclean URL %q", name, u)
		}
	}
}

var fuzzPaths = []string{"/api/webhook", "/api/webhook/generic", "/api/webhook/registry", "/api/webhook/", "/other"}

var fuzzSigners = []string{"", "github", "gitlab", "gitea", "gogs", "bitbucket-server", "bitbucket-cloud", "generic"}

func FuzzHandler(f *testing.F) {
	events := map[string]string{"github": "push", "gitlab": "Push Hook", "gitea": "push", "gogs": "push",
		"bitbucket-server": "repo:refs_changed", "bitbucket-cloud": "repo:push"}
	files := fixtures(f)
	for si, signer := range fuzzSigners {
		path := uint8(0)
		if signer == "generic" {
			path = 1
		}
		raw := headerBlob(eventHeaders(signer, events[signer], "d-"+signer))
		for _, body := range files {
			f.Add(path, uint8(0), raw, body, uint8(si))
			f.Add(path, uint8(0), raw, body, uint8(0))
		}
	}
	f.Add(uint8(2), uint8(0), "Authorization: Bearer nope", files["registry-push.json"], uint8(0))
	f.Add(uint8(0), uint8(0), "X-GitHub-Event: push\nX-Hub-Signature-256: sha256=00\nContent-Type: application/x-www-form-urlencoded",
		[]byte("payload=%7B%7D"), uint8(0))
	f.Add(uint8(0), uint8(1), "X-GitHub-Event: ping", []byte("{}"), uint8(1))
	f.Fuzz(func(t *testing.T, path, method uint8, raw string, body []byte, signer uint8) {
		fuzzHandlerOnce(t, fuzzPaths[int(path)%len(fuzzPaths)], method%4 != 1, raw, body,
			fuzzSigners[int(signer)%len(fuzzSigners)])
	})
}

// fuzzHandlerOnce sends one request built from raw headers (one "Key:
// value" per line) plus, when signer is set, valid credentials for that
// provider. Any callback must come from a provider whose credential the
// request really carried, and no secret may reach the log.
func fuzzHandlerOnce(t *testing.T, path string, post bool, raw string, body []byte, signer string) {
	method := http.MethodPost
	if !post {
		method = http.MethodGet
	}
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	for _, line := range strings.Split(raw, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && k != "" {
			req.Header.Add(textproto.CanonicalMIMEHeaderKey(k), strings.TrimSpace(v))
		}
	}
	if signer != "" {
		for k, v := range authHeaders(signer, "", body) {
			req.Header[k] = v
		}
	}
	var called []string
	var logs bytes.Buffer
	h := &Handler{
		Secrets:      func(context.Context) (map[string]string, error) { return testSecrets, nil },
		Pushed:       func(_ context.Context, p Push) int { called = append(called, p.Provider); return 1 },
		ImagePushed:  func(context.Context, ImagePush) int { called = append(called, "generic"); return 1 },
		MaxBodyBytes: 4096,
		Log:          func(msg string, kv ...any) { fmt.Fprintln(&logs, append([]any{msg}, kv...)...) },
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code == http.StatusInternalServerError {
		t.Fatalf("500: %s", w.Body.String())
	}
	for _, p := range called {
		if !credentialed(p, signer, raw, body) {
			t.Fatalf("callback for %s without its credential (signer %q)", p, signer)
		}
	}
	if len(called) > 0 && w.Code != http.StatusOK {
		t.Fatalf("callback called but status %d", w.Code)
	}
	checkNoSecrets(t, logs.String(), raw)
}

// credentialed reports whether the request carried provider's credential:
// added by signer, or present verbatim in the fuzzed headers.
func credentialed(provider, signer, raw string, body []byte) bool {
	if provider == signer {
		return true
	}
	raw = strings.ToLower(raw)
	secret := testSecrets[provider]
	return strings.Contains(raw, normalizeUUID(secret)) || strings.Contains(raw, mac(secret, body))
}

// checkNoSecrets fails if a secret reached the log, unless the fuzzed
// headers themselves carried it (a delivery id is logged, and may be
// anything).
func checkNoSecrets(t *testing.T, logs, raw string) {
	t.Helper()
	for _, s := range testSecrets {
		s = normalizeUUID(s)
		if strings.Contains(strings.ToLower(logs), s) && !strings.Contains(strings.ToLower(raw), s) {
			t.Fatalf("secret in log: %q", logs)
		}
	}
}

func headerBlob(h http.Header) string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

func TestParseErrorsAreKnown(t *testing.T) {
	for _, err := range parseErrors {
		if errors.Unwrap(err) != nil || len(err.Error()) > 40 {
			t.Errorf("parse error %q should be short and plain", err)
		}
	}
}
