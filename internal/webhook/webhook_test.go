package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var testSecrets = map[string]string{
	"github":           "gh-s3cret-7f1e9a",
	"gitlab":           "gl-t0ken-91ab44",
	"gitea":            "gt-s3cret-2c4d11",
	"gogs":             "gg-s3cret-8e0f22",
	"bitbucket-server": "bbs-s3cret-5a6b33",
	"bitbucket-cloud":  "{3F2504E0-4F89-11D3-9A0C-0305E82C3301}",
	"generic":          "gen-s3cret-d00d55",
}

// authHeaderNames are the headers that carry credentials; their values
// must never reach the log.
var authHeaderNames = []string{
	"X-Hub-Signature-256", "X-Hub-Signature", "X-Gitea-Signature", "X-Gogs-Signature",
	"X-Gitlab-Token", "X-Hook-UUID", "X-Ferry-Signature-256", "Authorization",
}

func mac(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// authHeaders returns headers that authenticate body for provider, using
// secret (testSecrets[provider] when empty).
func authHeaders(provider, secret string, body []byte) http.Header {
	if secret == "" && provider == "registry" {
		secret = testSecrets["generic"]
	} else if secret == "" {
		secret = testSecrets[provider]
	}
	h := http.Header{}
	switch provider {
	case "github":
		h.Set("X-Hub-Signature-256", "sha256="+mac(secret, body))
	case "gitlab":
		h.Set("X-Gitlab-Token", secret)
	case "gitea": // Gitea also sends GitHub-style headers; detection must prefer X-Gitea-*.
		h.Set("X-Gitea-Signature", mac(secret, body))
		h.Set("X-Hub-Signature-256", "sha256="+mac(secret, body))
	case "gogs":
		h.Set("X-Gogs-Signature", mac(secret, body))
	case "bitbucket-server":
		h.Set("X-Hub-Signature", "sha256="+mac(secret, body))
	case "bitbucket-cloud":
		h.Set("X-Hook-UUID", normalizeUUID(secret))
	case "generic", "registry":
		h.Set("X-Ferry-Signature-256", "sha256="+mac(secret, body))
	}
	return h
}

// eventHeaders names the event and delivery id the way provider does.
func eventHeaders(provider, event, delivery string) http.Header {
	h := http.Header{}
	set := func(k, v string) {
		if v != "" {
			h.Set(k, v)
		}
	}
	switch provider {
	case "github":
		set("X-GitHub-Event", event)
		set("X-GitHub-Delivery", delivery)
	case "gitlab":
		set("X-Gitlab-Event", event)
		set("X-Gitlab-Event-UUID", delivery)
	case "gitea":
		set("X-Gitea-Event", event)
		set("X-Gitea-Delivery", delivery)
		set("X-GitHub-Event", event)
		set("X-Gogs-Event", event)
	case "gogs":
		set("X-Gogs-Event", event)
		set("X-Gogs-Delivery", delivery)
	case "bitbucket-server":
		set("X-Event-Key", event)
		set("X-Request-Id", delivery)
	case "bitbucket-cloud":
		set("X-Event-Key", event)
		set("X-Request-UUID", delivery)
	case "generic", "registry":
		set("X-Ferry-Delivery", delivery)
	}
	return h
}

func merge(hs ...http.Header) http.Header {
	out := http.Header{}
	for _, h := range hs {
		for k, v := range h {
			out[k] = v
		}
	}
	return out
}

func pathFor(provider string) string {
	switch provider {
	case "generic":
		return "/api/webhook/generic"
	case "registry":
		return "/api/webhook/registry"
	}
	return "/api/webhook"
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// recorder is a Handler harness that records callbacks and log lines and,
// at cleanup, checks that no secret or credential reached the log.
type recorder struct {
	t         *testing.T
	h         *Handler
	mu        sync.Mutex
	pushes    []Push
	images    []ImagePush
	logs      []string
	forbidden []string
}

func newRecorder(t *testing.T) *recorder {
	r := &recorder{t: t}
	for _, s := range testSecrets {
		r.forbid(s)
	}
	r.h = &Handler{
		Secrets: func(context.Context) (map[string]string, error) { return testSecrets, nil },
		Pushed: func(_ context.Context, p Push) int {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.pushes = append(r.pushes, p)
			return 2
		},
		ImagePushed: func(_ context.Context, p ImagePush) int {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.images = append(r.images, p)
			return 3
		},
		Log: func(msg string, kv ...any) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.logs = append(r.logs, fmt.Sprintln(append([]any{msg}, kv...)...))
		},
	}
	t.Cleanup(r.checkLogs)
	return r
}

func (r *recorder) forbid(v string) {
	for _, s := range []string{v, normalizeUUID(v), strings.TrimPrefix(v, "sha256="), strings.TrimPrefix(v, "Bearer ")} {
		if len(s) >= 8 {
			r.forbidden = append(r.forbidden, s)
		}
	}
}

func (r *recorder) checkLogs() {
	for _, line := range r.logs {
		for _, f := range r.forbidden {
			if strings.Contains(strings.ToLower(line), strings.ToLower(f)) {
				r.t.Errorf("log line %q holds a secret or credential", line)
			}
		}
	}
}

// post sends body to path with hdr and returns the response.
func (r *recorder) post(path string, hdr http.Header, body []byte) *httptest.ResponseRecorder {
	return r.send(http.MethodPost, path, hdr, bytes.NewReader(body))
}

func (r *recorder) send(method, path string, hdr http.Header, body io.Reader) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, body)
	for k, v := range hdr {
		req.Header[k] = v
	}
	for _, name := range authHeaderNames {
		for _, v := range req.Header.Values(name) {
			r.forbid(v)
		}
	}
	w := httptest.NewRecorder()
	r.h.ServeHTTP(w, req)
	return w
}

// signed posts body as a correctly authenticated provider event.
func (r *recorder) signed(provider, event, delivery string, body []byte) *httptest.ResponseRecorder {
	hdr := merge(eventHeaders(provider, event, delivery), authHeaders(provider, "", body))
	return r.post(pathFor(provider), hdr, body)
}

func (r *recorder) callbacks() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pushes) + len(r.images)
}

func expectStatus(t *testing.T, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status = %d, want %d (body %q)", w.Code, want, w.Body.String())
	}
}

func TestProviderPushes(t *testing.T) {
	gh := []string{
		"https://github.com/octo-org/deploy-config.git",
		"git@github.com:octo-org/deploy-config.git",
		"git://github.com/octo-org/deploy-config.git",
		"https://github.com/octo-org/deploy-config",
	}
	bbs := []string{
		"ssh://git@bitbucket.example.com:7999/plat/deploy.git",
		"https://bitbucket.example.com/scm/plat/deploy.git",
	}
	tests := []struct {
		provider, event, fixture string
		want                     []Push
	}{
		{"github", "push", "github-push.json", []Push{{Provider: "github", URLs: gh, Branch: "main", After: "0d1a26e67d8f5eaf1f6ba5c57fc3c7d91ac0fd1c"}}},
		{"github", "push", "github-tag-push.json", []Push{{Provider: "github", URLs: gh, Tag: "v1.4.0", After: "9f3b1c2d4e5f60718293a4b5c6d7e8f901234567"}}},
		{"gitlab", "Push Hook", "gitlab-push.json", []Push{{Provider: "gitlab", URLs: []string{
			"https://gitlab.example.com/mike/diaspora.git", "git@gitlab.example.com:mike/diaspora.git", "https://gitlab.example.com/mike/diaspora",
		}, Branch: "main", After: "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"}}},
		{"gitlab", "Tag Push Hook", "gitlab-tag-push.json", []Push{{Provider: "gitlab", URLs: []string{
			"https://gitlab.example.com/jsmith/example.git", "git@gitlab.example.com:jsmith/example.git", "https://gitlab.example.com/jsmith/example",
		}, Tag: "v1.0.0", After: "5937ac0a7beb003549fc5fd26fc247adbce4a52e"}}},
		{"gitea", "push", "gitea-push.json", []Push{{Provider: "gitea", URLs: []string{
			"https://gitea.example.com/platform/webhooks.git", "ssh://git@gitea.example.com:2222/platform/webhooks.git", "https://gitea.example.com/platform/webhooks",
		}, Branch: "develop", After: "bffeb74224043ba2feb48d137756c8a9331c449a"}}},
		{"gogs", "push", "gogs-push.json", []Push{{Provider: "gogs", URLs: []string{
			"https://try.gogs.io/unknwon/webhooks.git", "git@try.gogs.io:unknwon/webhooks.git", "https://try.gogs.io/unknwon/webhooks",
		}, Branch: "master", After: "f4c1e1f2a7b9d3c6e8a0b2d4f6a8c0e2b4d6f8a0"}}},
		{"bitbucket-server", "repo:refs_changed", "bitbucket-server-refs-changed.json", []Push{
			{Provider: "bitbucket-server", URLs: bbs, Branch: "main", After: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc"},
			{Provider: "bitbucket-server", URLs: bbs, Tag: "v2.0.1", After: "178864a7d521b6f5e720b386b2c2b0ef8563e0dc"},
		}},
		{"bitbucket-cloud", "repo:push", "bitbucket-cloud-push.json", []Push{{Provider: "bitbucket-cloud", URLs: []string{
			"https://bitbucket.org/acme/gitops", "https://bitbucket.org/acme/gitops.git", "git@bitbucket.org:acme/gitops.git",
		}, Branch: "production", After: "1e65c05c1d5171631d92438a13901ca7dae9618c"}}},
		{"generic", "", "generic-push.json", []Push{{Provider: "generic", URLs: []string{
			"https://git.example.com/team/config.git",
		}, Branch: "main", After: "3f786850e387550fdab836ed7e6dc881de23001b"}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			r := newRecorder(t)
			w := r.signed(tt.provider, tt.event, "delivery-1", fixture(t, tt.fixture))
			expectStatus(t, w, http.StatusOK)
			if want := fmt.Sprintf("{\"refreshed\":%d}\n", 2*len(tt.want)); w.Body.String() != want {
				t.Errorf("body = %q, want %q", w.Body.String(), want)
			}
			if !reflect.DeepEqual(r.pushes, tt.want) {
				t.Errorf("pushes:\n got %+v\nwant %+v", r.pushes, tt.want)
			}
		})
	}
}

func TestRegistryPush(t *testing.T) {
	body := fixture(t, "registry-push.json")
	want := []ImagePush{{Image: "registry.example.com/team/app", Tag: "v1.8.2"}}
	for name, hdr := range map[string]http.Header{
		"hmac":   authHeaders("registry", "", body),
		"bearer": {"Authorization": {"Bearer " + testSecrets["generic"]}},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRecorder(t)
			w := r.post("/api/webhook/registry", hdr, body)
			expectStatus(t, w, http.StatusOK)
			if w.Body.String() != "{\"refreshed\":3}\n" {
				t.Errorf("body = %q", w.Body.String())
			}
			if !reflect.DeepEqual(r.images, want) || len(r.pushes) != 0 {
				t.Errorf("images = %+v, pushes = %+v", r.images, r.pushes)
			}
		})
	}
}

func TestGenericBearer(t *testing.T) {
	r := newRecorder(t)
	hdr := http.Header{"Authorization": {"bearer " + testSecrets["generic"]}}
	w := r.post("/api/webhook/generic/", hdr, []byte(`{"repository":"git@git.example.com:team/config.git","tag":"v3"}`))
	expectStatus(t, w, http.StatusOK)
	want := []Push{{Provider: "generic", URLs: []string{"git@git.example.com:team/config.git"}, Tag: "v3"}}
	if !reflect.DeepEqual(r.pushes, want) {
		t.Errorf("pushes = %+v, want %+v", r.pushes, want)
	}
}

func TestFormEncodedPayload(t *testing.T) {
	r := newRecorder(t)
	body := []byte("payload=" + url.QueryEscape(string(fixture(t, "github-push.json"))))
	hdr := merge(eventHeaders("github", "push", ""), authHeaders("github", "", body),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	expectStatus(t, r.post("/api/webhook", hdr, body), http.StatusOK)
	if len(r.pushes) != 1 || r.pushes[0].Branch != "main" {
		t.Errorf("pushes = %+v", r.pushes)
	}
}

func TestUnauthorized(t *testing.T) {
	gh := fixture(t, "github-push.json")
	other := "not-the-secret"
	tests := []struct {
		name, provider, event string
		hdr                   http.Header
		body                  []byte
	}{
		{"github wrong secret", "github", "push", authHeaders("github", other, gh), gh},
		{"github no signature", "github", "push", nil, gh},
		{"github other body", "github", "push", authHeaders("github", "", []byte("{}")), gh},
		{"github sha1 prefix", "github", "push", http.Header{"X-Hub-Signature-256": {"sha1=" + mac(testSecrets["github"], gh)}}, gh},
		{"github not hex", "github", "push", http.Header{"X-Hub-Signature-256": {"sha256=zz" + mac(testSecrets["github"], gh)[2:]}}, gh},
		{"github truncated", "github", "push", http.Header{"X-Hub-Signature-256": {"sha256=" + mac(testSecrets["github"], gh)[:40]}}, gh},
		{"github ping unsigned", "github", "ping", nil, fixture(t, "github-ping.json")},
		{"gitlab wrong token", "gitlab", "Push Hook", authHeaders("gitlab", other, nil), fixture(t, "gitlab-push.json")},
		{"gitlab token of github", "gitlab", "Push Hook", http.Header{"X-Gitlab-Token": {testSecrets["github"]}}, fixture(t, "gitlab-push.json")},
		{"gitea wrong secret", "gitea", "push", authHeaders("gitea", other, gh), fixture(t, "gitea-push.json")},
		{"gitea github-style only", "gitea", "push", http.Header{"X-Hub-Signature-256": {"sha256=" + mac(testSecrets["github"], fixture(t, "gitea-push.json"))}}, fixture(t, "gitea-push.json")},
		{"gogs signed as gitea", "gogs", "push", http.Header{"X-Gogs-Signature": {mac(testSecrets["gitea"], fixture(t, "gogs-push.json"))}}, fixture(t, "gogs-push.json")},
		{"bitbucket server wrong secret", "bitbucket-server", "repo:refs_changed", authHeaders("bitbucket-server", other, nil), fixture(t, "bitbucket-server-refs-changed.json")},
		{"bitbucket cloud wrong uuid", "bitbucket-cloud", "repo:push", http.Header{"X-Hook-UUID": {"00000000-0000-0000-0000-000000000000"}}, fixture(t, "bitbucket-cloud-push.json")},
		{"bitbucket cloud no uuid", "bitbucket-cloud", "repo:push", nil, fixture(t, "bitbucket-cloud-push.json")},
		{"generic no auth", "generic", "", nil, fixture(t, "generic-push.json")},
		{"generic wrong bearer", "generic", "", http.Header{"Authorization": {"Bearer " + other}}, fixture(t, "generic-push.json")},
		{"generic basic auth", "generic", "", http.Header{"Authorization": {"Basic " + testSecrets["generic"]}}, fixture(t, "generic-push.json")},
		{"generic bad signature beats bearer", "generic", "", http.Header{
			"X-Ferry-Signature-256": {"sha256=" + mac(other, fixture(t, "generic-push.json"))},
			"Authorization":         {"Bearer " + testSecrets["generic"]},
		}, fixture(t, "generic-push.json")},
		{"registry wrong bearer", "registry", "", http.Header{"Authorization": {"Bearer " + other}}, fixture(t, "registry-push.json")},
		{"registry github secret", "registry", "", authHeaders("registry", testSecrets["github"], fixture(t, "registry-push.json")), fixture(t, "registry-push.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(t)
			hdr := merge(eventHeaders(tt.provider, tt.event, "d-1"), tt.hdr)
			w := r.post(pathFor(tt.provider), hdr, tt.body)
			expectStatus(t, w, http.StatusUnauthorized)
			if r.callbacks() != 0 {
				t.Errorf("callback called for an unauthenticated request")
			}
		})
	}
}

func TestUnconfiguredProvider(t *testing.T) {
	body := fixture(t, "gitlab-push.json")
	for name, secrets := range map[string]Secrets{
		"missing": func(context.Context) (map[string]string, error) { return map[string]string{"github": "x"}, nil },
		"empty":   func(context.Context) (map[string]string, error) { return map[string]string{"gitlab": ""}, nil },
		"nil":     nil,
	} {
		t.Run(name, func(t *testing.T) {
			r := newRecorder(t)
			r.h.Secrets = secrets
			// An empty token must not match an empty secret either.
			for _, token := range []string{testSecrets["gitlab"], ""} {
				hdr := merge(eventHeaders("gitlab", "Push Hook", ""), http.Header{"X-Gitlab-Token": {token}})
				expectStatus(t, r.post("/api/webhook", hdr, body), http.StatusUnauthorized)
			}
			if r.callbacks() != 0 {
				t.Errorf("callback called for an unconfigured provider")
			}
		})
	}
}

func TestSecretsRotation(t *testing.T) {
	r := newRecorder(t)
	secret := "first-s3cret-aa"
	r.forbid("first-s3cret-aa")
	r.forbid("second-s3cret-bb")
	r.h.Secrets = func(context.Context) (map[string]string, error) { return map[string]string{"github": secret}, nil }
	body := fixture(t, "github-push.json")
	send := func(s string) int {
		return r.post("/api/webhook", merge(eventHeaders("github", "push", ""), authHeaders("github", s, body)), body).Code
	}
	if code := send("first-s3cret-aa"); code != http.StatusOK {
		t.Fatalf("before rotation: %d", code)
	}
	secret = "second-s3cret-bb"
	if code := send("first-s3cret-aa"); code != http.StatusUnauthorized {
		t.Errorf("old secret after rotation: %d, want 401", code)
	}
	if code := send("second-s3cret-bb"); code != http.StatusOK {
		t.Errorf("new secret after rotation: %d, want 200", code)
	}
}

func TestSecretsError(t *testing.T) {
	r := newRecorder(t)
	r.h.Secrets = func(context.Context) (map[string]string, error) { return nil, errors.New("vault sealed") }
	w := r.signed("github", "push", "", fixture(t, "github-push.json"))
	expectStatus(t, w, http.StatusInternalServerError)
	if r.callbacks() != 0 {
		t.Error("callback called without secrets")
	}
}

// countingReader yields size bytes of JSON-ish filler, counting reads.
type countingReader struct {
	size, read int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if c.read >= c.size {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > c.size-c.read {
		n = c.size - c.read
	}
	for i := range p[:n] {
		p[i] = ' '
	}
	c.read += n
	return int(n), nil
}

func TestBodyTooLarge(t *testing.T) {
	const size = 100 << 20
	tests := []struct {
		name          string
		max           int64
		contentLength int64
		wantMaxRead   int64
	}{
		{"default cap, unknown length", 0, -1, defaultMaxBodyBytes + 4096},
		{"small cap, unknown length", 1024, -1, 1024 + 4096},
		{"declared length", 0, size, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(t)
			r.h.MaxBodyBytes = tt.max
			body := &countingReader{size: size}
			req := httptest.NewRequest(http.MethodPost, "/api/webhook", body)
			req.ContentLength = tt.contentLength
			req.Header = merge(eventHeaders("github", "push", ""), http.Header{"X-Hub-Signature-256": {"sha256=00"}})
			w := httptest.NewRecorder()
			r.h.ServeHTTP(w, req)
			expectStatus(t, w, http.StatusRequestEntityTooLarge)
			if body.read > tt.wantMaxRead {
				t.Errorf("read %d bytes, want at most %d", body.read, tt.wantMaxRead)
			}
			if r.callbacks() != 0 {
				t.Error("callback called")
			}
		})
	}
}

func TestBodyAtLimit(t *testing.T) {
	r := newRecorder(t)
	body := fixture(t, "generic-push.json")
	r.h.MaxBodyBytes = int64(len(body))
	expectStatus(t, r.signed("generic", "", "", body), http.StatusOK)
	padded := append(bytes.Clone(body), ' ')
	expectStatus(t, r.signed("generic", "", "", padded), http.StatusRequestEntityTooLarge)
}

func TestMalformed(t *testing.T) {
	tests := []struct {
		name, provider, event, body, reason string
	}{
		{"not json", "github", "push", `{"ref": "refs/heads/main", secret-ish garbage`, "malformed JSON"},
		{"trailing data", "github", "push", `{} {"x": "trailing-garbage"}`, "malformed JSON"},
		{"array", "github", "push", `["refs/heads/main"]`, "malformed JSON"},
		{"wrong type", "github", "push", `{"ref": 5, "repository": {"clone_url": "https://h/r.git"}}`, "malformed JSON"},
		{"missing ref", "github", "push", `{"repository": {"clone_url": "https://h/r.git"}}`, "missing ref"},
		{"pull ref", "github", "push", `{"ref": "refs/pull/1/head", "repository": {"clone_url": "https://h/r.git"}}`, "ref is neither a branch nor a tag"},
		{"bad branch name", "github", "push", `{"ref": "refs/heads/a..b", "repository": {"clone_url": "https://h/r.git"}}`, "invalid ref name"},
		{"missing repository", "github", "push", `{"ref": "refs/heads/main", "after": "abcdef12"}`, "missing repository URL"},
		{"bad url", "github", "push", `{"ref": "refs/heads/main", "repository": {"clone_url": "not a url"}}`, "missing repository URL"},
		{"bad after", "github", "push", `{"ref": "refs/heads/main", "after": "HEAD~1", "repository": {"clone_url": "https://h/r.git"}}`, "invalid commit id"},
		{"null", "gitlab", "Push Hook", `null`, "missing ref"},
		{"gitlab no project", "gitlab", "Push Hook", `{"ref": "refs/heads/main", "after": "abcd"}`, "missing repository URL"},
		{"bitbucket server no changes", "bitbucket-server", "repo:refs_changed", `{"repository": {"links": {"clone": [{"href": "https://h/r.git"}]}}, "changes": []}`, "no branch or tag changes"},
		{"bitbucket server no links", "bitbucket-server", "repo:refs_changed", `{"changes": [{"ref": {"id": "refs/heads/main"}, "toHash": "abcd"}]}`, "missing repository URL"},
		{"bitbucket cloud bookmark", "bitbucket-cloud", "repo:push", `{"repository": {"full_name": "a/b"}, "push": {"changes": [{"new": {"type": "bookmark", "name": "x"}}]}}`, "no branch or tag changes"},
		{"generic branch and tag", "generic", "", `{"repository": "https://h/r.git", "branch": "main", "tag": "v1"}`, "give a branch or a tag, not both"},
		{"generic no repository", "generic", "", `{"branch": "main"}`, "missing repository URL"},
		{"registry no tag", "registry", "", `{"image": "registry.example.com/team/app"}`, "missing or invalid tag"},
		{"registry scheme", "registry", "", `{"image": "https://registry.example.com/team/app", "tag": "v1"}`, "missing or invalid image"},
		{"registry tag in image", "registry", "", `{"image": "registry.example.com/team/app:v1", "tag": "v1"}`, "missing or invalid image"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder(t)
			w := r.signed(tt.provider, tt.event, "", []byte(tt.body))
			expectStatus(t, w, http.StatusBadRequest)
			if got := strings.TrimSpace(w.Body.String()); got != tt.reason {
				t.Errorf("reason = %q, want %q", got, tt.reason)
			}
			if r.callbacks() != 0 {
				t.Error("callback called for a malformed payload")
			}
		})
	}
}

func TestFormWithoutPayload(t *testing.T) {
	r := newRecorder(t)
	body := []byte("other=1")
	hdr := merge(eventHeaders("github", "push", ""), authHeaders("github", "", body),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}})
	expectStatus(t, r.post("/api/webhook", hdr, body), http.StatusBadRequest)
}

func TestReplay(t *testing.T) {
	r := newRecorder(t)
	now := time.Date(2024, 5, 2, 10, 0, 0, 0, time.UTC)
	r.h.now = func() time.Time { return now }
	gh, gl := fixture(t, "github-push.json"), fixture(t, "gitlab-push.json")

	// Neither an unauthenticated nor a malformed delivery uses up its id.
	bad := merge(eventHeaders("github", "push", "d-1"), authHeaders("github", "wrong-secret", gh))
	expectStatus(t, r.post("/api/webhook", bad, gh), http.StatusUnauthorized)
	expectStatus(t, r.signed("github", "push", "d-1", []byte(`{}`)), http.StatusBadRequest)

	expectStatus(t, r.signed("github", "push", "d-1", gh), http.StatusOK)
	w := r.signed("github", "push", "d-1", gh)
	expectStatus(t, w, http.StatusBadRequest)
	if strings.TrimSpace(w.Body.String()) != "duplicate delivery" {
		t.Errorf("body = %q", w.Body.String())
	}
	if len(r.pushes) != 1 {
		t.Fatalf("pushes = %d, want 1", len(r.pushes))
	}
	// Delivery ids are per provider; requests without one are never replays.
	expectStatus(t, r.signed("gitlab", "Push Hook", "d-1", gl), http.StatusOK)
	expectStatus(t, r.signed("github", "push", "", gh), http.StatusOK)
	expectStatus(t, r.signed("github", "push", "", gh), http.StatusOK)
	// After 24h the id is forgotten.
	now = now.Add(replayTTL)
	expectStatus(t, r.signed("github", "push", "d-1", gh), http.StatusOK)
	if len(r.pushes) != 5 {
		t.Errorf("pushes = %d, want 5", len(r.pushes))
	}
}

func TestReplayCacheBounded(t *testing.T) {
	c := newReplayCache(3, time.Hour)
	now := time.Unix(0, 0)
	key := func(i byte) [32]byte { return [32]byte{i} }
	for i := range byte(4) {
		if c.seen(key(i), now) {
			t.Fatalf("key %d seen before being added", i)
		}
	}
	if c.order.Len() != 3 || len(c.index) != 3 {
		t.Fatalf("size = %d/%d, want 3", c.order.Len(), len(c.index))
	}
	if c.seen(key(0), now) {
		t.Error("oldest key should have been evicted")
	}
	if !c.seen(key(3), now) {
		t.Error("newest key forgotten")
	}
	if c.seen(key(3), now.Add(time.Hour)) {
		t.Error("expired key still seen")
	}
}

func TestPing(t *testing.T) {
	tests := []struct{ provider, event, fixture string }{
		{"github", "ping", "github-ping.json"},
		{"bitbucket-server", "diagnostics:ping", "github-ping.json"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			r := newRecorder(t)
			w := r.signed(tt.provider, tt.event, "p-1", fixture(t, tt.fixture))
			expectStatus(t, w, http.StatusOK)
			if w.Body.String() != "pong" {
				t.Errorf("body = %q, want pong", w.Body.String())
			}
			if r.callbacks() != 0 {
				t.Error("ping called a callback")
			}
		})
	}
}

func TestIgnoredEvents(t *testing.T) {
	tests := []struct{ provider, event string }{
		{"github", "issues"},
		{"gitlab", "Merge Request Hook"},
		{"gitea", "pull_request"},
		{"bitbucket-server", "pr:opened"},
		{"bitbucket-cloud", "pullrequest:created"},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			r := newRecorder(t)
			w := r.signed(tt.provider, tt.event, "", []byte(`{"action": "opened"}`))
			expectStatus(t, w, http.StatusOK)
			if w.Body.String() != "{\"refreshed\":0,\"ignored\":\"event\"}\n" {
				t.Errorf("body = %q", w.Body.String())
			}
			if r.callbacks() != 0 {
				t.Error("ignored event called a callback")
			}
		})
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		method, path string
		hdr          http.Header
		want         int
	}{
		{http.MethodGet, "/api/webhook", nil, http.StatusMethodNotAllowed},
		{http.MethodPut, "/api/webhook/generic", nil, http.StatusMethodNotAllowed},
		{http.MethodDelete, "/api/webhook/registry", nil, http.StatusMethodNotAllowed},
		{http.MethodPost, "/api/webhooks", nil, http.StatusNotFound},
		{http.MethodPost, "/", nil, http.StatusNotFound},
		{http.MethodPost, "/api/webhook/other", nil, http.StatusNotFound},
		{http.MethodGet, "/nope", nil, http.StatusNotFound},
		{http.MethodPost, "/api/webhook", nil, http.StatusBadRequest},
		{http.MethodPost, "/api/webhook", http.Header{"X-Unknown-Event": {"push"}}, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := newRecorder(t)
			w := r.send(tt.method, tt.path, tt.hdr, strings.NewReader(`{}`))
			expectStatus(t, w, tt.want)
			if tt.want == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
		})
	}
}

func TestDetectProvider(t *testing.T) {
	tests := []struct {
		hdr  http.Header
		want *provider
	}{
		{eventHeaders("gitea", "push", ""), gitea},
		{http.Header{"X-Gogs-Event": {"push"}, "X-Github-Event": {"push"}}, gogs},
		{eventHeaders("github", "push", ""), github},
		{eventHeaders("gitlab", "Push Hook", ""), gitlab},
		{eventHeaders("bitbucket-server", "repo:refs_changed", ""), bitbucketServer},
		{eventHeaders("bitbucket-cloud", "repo:push", ""), bitbucketCloud},
		{http.Header{"X-Event-Key": {"pullrequest:created"}, "X-Hook-Uuid": {"x"}}, bitbucketCloud},
		{http.Header{}, nil},
	}
	for _, tt := range tests {
		if got := detectProvider(tt.hdr); got != tt.want {
			t.Errorf("detectProvider(%v) = %v, want %v", tt.hdr, got, tt.want)
		}
	}
}

func TestCallbackPanicRecovered(t *testing.T) {
	r := newRecorder(t)
	r.h.Pushed = func(context.Context, Push) int { panic("boom") }
	w := r.signed("github", "push", "", fixture(t, "github-push.json"))
	expectStatus(t, w, http.StatusInternalServerError)
}

func TestCallbackContext(t *testing.T) {
	r := newRecorder(t)
	var ctxErr error
	var deadline time.Time
	r.h.Pushed = func(ctx context.Context, _ Push) int {
		ctxErr = ctx.Err()
		deadline, _ = ctx.Deadline()
		return 1
	}
	body := fixture(t, "github-push.json")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client went away: the refresh must still run
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/webhook", bytes.NewReader(body))
	req.Header = merge(eventHeaders("github", "push", ""), authHeaders("github", "", body))
	w := httptest.NewRecorder()
	start := time.Now()
	r.h.ServeHTTP(w, req)
	end := time.Now()
	expectStatus(t, w, http.StatusOK)
	if ctxErr != nil {
		t.Errorf("callback context already done: %v", ctxErr)
	}
	if deadline.Before(start) || deadline.After(end.Add(callbackTimeout)) {
		t.Errorf("callback deadline %v, want within %v of the request", deadline.Sub(start), callbackTimeout)
	}
}

func TestNilCallbacks(t *testing.T) {
	r := newRecorder(t)
	r.h.Pushed, r.h.ImagePushed = nil, nil
	w := r.signed("github", "push", "", fixture(t, "github-push.json"))
	expectStatus(t, w, http.StatusOK)
	if w.Body.String() != "{\"refreshed\":0}\n" {
		t.Errorf("body = %q", w.Body.String())
	}
	expectStatus(t, r.signed("registry", "", "", fixture(t, "registry-push.json")), http.StatusOK)
}

// TestLogNeverHoldsSecrets drives accepted and rejected requests for every
// provider; the recorder's cleanup fails on any secret or credential
// (signature, token, hook UUID, bearer) found in a log line.
func TestLogNeverHoldsSecrets(t *testing.T) {
	r := newRecorder(t)
	events := map[string]string{"github": "push", "gitlab": "Push Hook", "gitea": "push", "gogs": "push",
		"bitbucket-server": "repo:refs_changed", "bitbucket-cloud": "repo:push", "generic": "", "registry": ""}
	files := map[string]string{"github": "github-push.json", "gitlab": "gitlab-push.json", "gitea": "gitea-push.json",
		"gogs": "gogs-push.json", "bitbucket-server": "bitbucket-server-refs-changed.json",
		"bitbucket-cloud": "bitbucket-cloud-push.json", "generic": "generic-push.json", "registry": "registry-push.json"}
	for p, event := range events {
		body := fixture(t, files[p])
		r.signed(p, event, "del-"+p, body)
		r.signed(p, event, "del-"+p, body)        // replay
		r.signed(p, event, "", []byte(`{"x":1}`)) // malformed
		r.signed(p, "ping", "", body)             // ping or ignored
		bad := merge(eventHeaders(p, event, ""), authHeaders(p, "Wrong-Secret-123", body))
		r.post(pathFor(p), bad, body)
	}
	r.h.Secrets = func(context.Context) (map[string]string, error) {
		return nil, fmt.Errorf("backend unavailable")
	}
	r.signed("github", "push", "", fixture(t, "github-push.json"))
	if len(r.logs) < 40 {
		t.Errorf("only %d log lines", len(r.logs))
	}
}

func TestValidators(t *testing.T) {
	refs := map[string]bool{
		"main": true, "feature/x-1": true, "v1.2.3": true, "release/2024.05": true,
		"": false, "-x": false, "a..b": false, "a b": false, "a~1": false, "x.lock": false,
		"a/": false, "/a": false, ".hidden": false, "a/.b": false, "a@{1}": false, "@": false,
		"a\x00b": false, "a:b": false, "a//b": false, strings.Repeat("a", 256): false, "\xff": false,
	}
	for s, want := range refs {
		if got := validRefName(s); got != want {
			t.Errorf("validRefName(%q) = %v, want %v", s, got, want)
		}
	}
	urls := map[string]string{
		"https://user:pass@git.example.com/r.git": "https://git.example.com/r.git",
		"  https://git.example.com/r.git ":        "https://git.example.com/r.git",
		"git@host:org/r.git":                      "git@host:org/r.git",
		"ssh://git@host:22/r.git":                 "ssh://git@host:22/r.git",
		"https:///nohost":                         "",
		"plainword":                               "",
		"https://host/a b":                        "",
		"http://%zz":                              "",
	}
	for in, want := range urls {
		if got := cleanURL(in); got != want {
			t.Errorf("cleanURL(%q) = %q, want %q", in, got, want)
		}
	}
	images := map[string]bool{
		"registry.example.com/team/app": true, "localhost:5000/app": true, "app": true,
		"app:v1": false, "r.io/app:v1": false, "r.io:5000/app:v1": false, "r.io/app@sha256:ab": false,
		"/app": false, "app/": false, "a//b": false, "": false,
	}
	for s, want := range images {
		if got := validImage(s); got != want {
			t.Errorf("validImage(%q) = %v, want %v", s, got, want)
		}
	}
	commits := map[string]bool{"": true, "abcd": true, strings.Repeat("f", 64): true, "abc": false,
		"xyz1": false, strings.Repeat("a", 65): false}
	for s, want := range commits {
		if got := validCommit(s); got != want {
			t.Errorf("validCommit(%q) = %v, want %v", s, got, want)
		}
	}
}
