package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one request a recorder saw.
type received struct {
	method, uri string
	header      http.Header
	body        string
}

// recorder is a test endpoint answering with statuses in turn (then 200),
// each with body reply.
type recorder struct {
	mu       sync.Mutex
	reqs     []received
	statuses []int
	reply    string
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, received{req.Method, req.RequestURI, req.Header.Clone(), string(body)})
	status := http.StatusOK
	if len(r.statuses) > 0 {
		status, r.statuses = r.statuses[0], r.statuses[1:]
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, r.reply)
}

func (r *recorder) requests() []received {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]received(nil), r.reqs...)
}

func serve(t *testing.T, statuses ...int) (*recorder, string) {
	t.Helper()
	r := &recorder{statuses: statuses}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

var fast = &Sender{Backoff: []time.Duration{time.Millisecond}}

// deliver renders ev for d and sends every notification.
func deliver(t *testing.T, c *Config, ev Event, d Destination) error {
	t.Helper()
	ns, err := c.Render(ev, d)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	for _, n := range ns {
		if err := fast.Send(context.Background(), c, n); err != nil {
			return err
		}
	}
	return nil
}

func only(t *testing.T, r *recorder) received {
	t.Helper()
	reqs := r.requests()
	if len(reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

func TestSendWebhook(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.webhook.deploys": `
url: ` + base + `/hooks?token=$token
hmacSecret: $hmac
headers:
- name: Authorization
  value: Bearer $token
- name: Content-Type
  value: application/vnd.ferry+json
`,
		"trigger.on-deployed": "- send: [deployed]",
		"template.deployed": `
webhook:
  deploys:
    method: PUT
    path: /{{.app.metadata.name}}
    body: |
      {"app":"{{.app.metadata.name}}","rev":"{{short .revision}}"}
`,
	}, map[string][]byte{"token": []byte("tok-123"), "hmac": []byte("hmac-key")})
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "deploys"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	wantBody := `{"app":"guestbook","rev":"0123456"}` + "\n"
	if got.method != "PUT" || got.uri != "/hooks/guestbook?token=tok-123" || got.body != wantBody {
		t.Errorf("got %s %s %q", got.method, got.uri, got.body)
	}
	if a := got.header.Get("Authorization"); a != "Bearer tok-123" {
		t.Errorf("Authorization = %q", a)
	}
	if ct := got.header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/vnd.ferry+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	mac := hmac.New(sha256.New, []byte("hmac-key"))
	mac.Write([]byte(got.body))
	if sig := got.header.Get(SignatureHeader); sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signature %q does not verify", sig)
	}
}

func TestSendWebhookDefaults(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.webhook.h": "url: " + base + "/in\nbasicAuth: {username: u, password: $pw}",
	}, map[string][]byte{"pw": []byte("p")})
	if err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "h"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	want := `{"trigger":"on-sync-failed","application":"guestbook","namespace":"ferry","revision":"` + sha +
		`","message":"Application guestbook sync failed at 0123456: apply failed"}`
	if got.method != "POST" || got.uri != "/in" || got.body != want {
		t.Errorf("got %s %s %s", got.method, got.uri, got.body)
	}
	if got.header.Get("Content-Type") != "application/json" || got.header.Get(SignatureHeader) != "" ||
		got.header.Get("Authorization") != "Basic dTpw" {
		t.Errorf("headers %v", got.header)
	}
}

func TestSendSlack(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.slack":      "url: $slack-url",
		"service.slack.team": "url: " + base + "/team",
	}, map[string][]byte{"slack-url": []byte(base + "/services/T0/B0/XYZ")})
	ev := testEvent(TriggerSyncFailed)
	ev.Message = `<b> & "q"`
	if err := deliver(t, c, ev, Destination{Service: "slack", Recipient: "#ops"}); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, c, ev, Destination{Service: "team"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	text := `Application guestbook sync failed at 0123456: <b> & \"q\"`
	want := []received{
		{method: "POST", uri: "/services/T0/B0/XYZ", body: `{"channel":"#ops","text":"` + text + `"}`},
		{method: "POST", uri: "/team", body: `{"text":"` + text + `"}`},
	}
	if len(reqs) != 2 {
		t.Fatalf("got %d requests", len(reqs))
	}
	for i, w := range want {
		g := reqs[i]
		if g.method != w.method || g.uri != w.uri || g.body != w.body || g.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d = %s %s %s, want %s %s %s", i, g.method, g.uri, g.body, w.method, w.uri, w.body)
		}
	}
}

func TestSendGitHubStatus(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.github": "token: $gh\nbaseURL: " + base + "/api/v3/",
		"template.app-deployed": `
message: deployed
github:
  status:
    label: "ferry/{{.app.metadata.name}}"
    targetURL: "https://ferry.example.com/apps/{{.app.metadata.name}}"
`,
	}, map[string][]byte{"gh": []byte("ghp_secret")})
	ev := testEvent(TriggerDeployed)
	ev.RepoURL = "git@github.com:acme/guestbook.git"
	if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	ev = testEvent(TriggerSyncFailed)
	ev.Message = strings.Repeat("x", 200)
	if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests", len(reqs))
	}
	for _, g := range reqs {
		if g.method != "POST" || g.uri != "/api/v3/repos/acme/guestbook/statuses/"+sha {
			t.Errorf("request %s %s", g.method, g.uri)
		}
		if g.header.Get("Authorization") != "Bearer ghp_secret" || g.header.Get("Accept") != "application/vnd.github+json" {
			t.Errorf("headers %v", g.header)
		}
	}
	want0 := `{"state":"success","target_url":"https://ferry.example.com/apps/guestbook","description":"deployed","context":"ferry/guestbook"}`
	if reqs[0].body != want0 {
		t.Errorf("body = %s, want %s", reqs[0].body, want0)
	}
	desc := "Application guestbook sync failed at 0123456: " + strings.Repeat("x", 139-46) + "…"
	want1 := `{"state":"failure","description":"` + desc + `","context":"ferry"}`
	if reqs[1].body != want1 {
		t.Errorf("body = %s, want %s", reqs[1].body, want1)
	}
}

func TestSendGitLabStatus(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.gitlab": "token: glpat\nbaseURL: " + base + "\nname: cd",
	}, nil)
	ev := testEvent(TriggerSyncFailed)
	ev.RepoURL = "ssh://git@gitlab.example.com/group/sub/repo.git"
	if err := deliver(t, c, ev, Destination{Service: "gitlab"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	want := "/api/v4/projects/group%2Fsub%2Frepo/statuses/" + sha +
		"?description=Application+guestbook+sync+failed+at+0123456%3A+apply+failed&name=cd&state=failed"
	if got.method != "POST" || got.uri != want || got.body != "" || got.header.Get("PRIVATE-TOKEN") != "glpat" {
		t.Errorf("got %s %s %q %v", got.method, got.uri, got.body, got.header)
	}
}

func TestCommitStatusOnlyForStateTriggers(t *testing.T) {
	c := mustParse(t, map[string]string{"service.github": "token: t", "service.gitlab": "token: t"}, nil)
	for _, trigger := range []string{TriggerDriftDetected, TriggerOutOfSync} {
		for _, svc := range []string{"github", "gitlab"} {
			ns, err := c.Render(testEvent(trigger), Destination{Service: svc})
			if err != nil || len(ns) != 0 {
				t.Errorf("%s to %s: %v, %v", trigger, svc, ns, err)
			}
		}
	}
}

func TestCommitState(t *testing.T) {
	tests := map[string]string{
		TriggerDeployed: "success", TriggerSyncSucceeded: "success",
		TriggerSyncFailed: "failure", TriggerHealthDegraded: "failure",
		TriggerDriftDetected: "", TriggerOutOfSync: "", "on-created": "",
	}
	for trigger, want := range tests {
		if got := CommitState(trigger); got != want {
			t.Errorf("CommitState(%s) = %q, want %q", trigger, got, want)
		}
	}
}

func TestRepoPath(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://github.com/acme/app", "acme/app"},
		{"https://github.com/acme/app.git", "acme/app"},
		{"https://github.com/acme/app/", "acme/app"},
		{"https://user:pw@gitlab.com/group/sub/app.git", "group/sub/app"},
		{"ssh://git@github.com/acme/app.git", "acme/app"},
		{"ssh://git@gitlab.example.com:2222/group/sub/deep/app.git", "group/sub/deep/app"},
		{"git@github.com:acme/app.git", "acme/app"},
		{"github.com:acme/app", "acme/app"},
		{"git@gitlab.com:group/sub/app.git", "group/sub/app"},
		{"https://github.com/acme", ""},
		{"https://github.com", ""},
		{"git@github.com:app.git", ""},
		{"/local/path/repo", ""},
		{"oci://registry/charts", ""},
		{"https://github.com/acme/../app", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := repoPath(tt.url)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), `"`+tt.url+`"`) {
				t.Errorf("repoPath(%q) = %q, %v; want an error naming it", tt.url, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("repoPath(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	if _, err := repoPath("https://user:hunter2@h/x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}

func TestSendRetries(t *testing.T) {
	tests := []struct {
		statuses []int
		requests int
		fails    bool
	}{
		{[]int{503, 503}, 3, false},
		{[]int{429}, 2, false},
		{[]int{400}, 1, true},
		{[]int{404}, 1, true},
		{[]int{500, 502, 503}, 3, true},
	}
	for _, tt := range tests {
		r, base := serve(t, tt.statuses...)
		c := mustParse(t, map[string]string{"service.slack": "url: " + base}, nil)
		err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "slack"})
		if got := len(r.requests()); got != tt.requests || (err != nil) != tt.fails {
			t.Errorf("statuses %v: %d requests, error %v; want %d requests, failure %v",
				tt.statuses, got, err, tt.requests, tt.fails)
		}
	}
}

func TestSendRetriesNetworkErrors(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	var attempts int
	client := &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		attempts++
		return http.DefaultTransport.RoundTrip(req)
	})}
	c := mustParse(t, map[string]string{"service.webhook.h": "url: http://" + addr + "/x?token=$tok"},
		map[string][]byte{"tok": []byte("very-secret")})
	ns, _ := c.Render(testEvent(TriggerDeployed), Destination{Service: "h"})
	s := &Sender{Client: client, Backoff: []time.Duration{0}}
	err = s.Send(context.Background(), c, ns[0])
	if err == nil || attempts != 3 {
		t.Fatalf("error %v after %d attempts, want an error after 3", err, attempts)
	}
	if strings.Contains(err.Error(), "very-secret") || strings.Contains(err.Error(), "/x") {
		t.Errorf("error shows the URL: %v", err)
	}
	if !strings.Contains(err.Error(), "http://"+addr) {
		t.Errorf("error does not name the host: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSendRedactsEchoedSecrets(t *testing.T) {
	r, base := serve(t, 400)
	r.reply = "bad token ghp_topsecret for url /services/T0/B0/hookpath?k=querysecret, key hmac-secret"
	c := mustParse(t, map[string]string{
		"service.github":    "token: $gh\nbaseURL: " + base,
		"service.slack":     "url: " + base + "/services/T0/B0/hookpath",
		"service.webhook.h": "url: " + base + "/x?k=querysecret\nhmacSecret: hmac-secret",
	}, map[string][]byte{"gh": []byte("ghp_topsecret")})
	for _, svc := range []string{"github", "slack", "h"} {
		r.statuses = []int{400}
		err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: svc})
		if err == nil {
			t.Fatalf("%s: no error", svc)
		}
		for _, secret := range []string{"ghp_topsecret", "hookpath", "querysecret", "hmac-secret"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%s: error %q contains %q", svc, err, secret)
			}
		}
		if !strings.Contains(err.Error(), "400 Bad Request: bad token ***") {
			t.Errorf("%s: error %q does not show the (redacted) reply", svc, err)
		}
	}
}

func TestSendStopsWhenContextEnds(t *testing.T) {
	r, base := serve(t, 503, 503)
	c := mustParse(t, map[string]string{"service.slack": "url: " + base}, nil)
	ns, _ := c.Render(testEvent(TriggerSyncFailed), Destination{Service: "slack"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := (&Sender{Backoff: []time.Duration{time.Hour}}).Send(ctx, c, ns[0])
	if !errors.Is(err, context.DeadlineExceeded) || len(r.requests()) != 1 {
		t.Errorf("error %v after %d requests", err, len(r.requests()))
	}
}

func TestSendInsecureSkipVerify(t *testing.T) {
	r := &recorder{}
	srv := httptest.NewUnstartedServer(r)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := mustParse(t, map[string]string{
		"service.webhook.insecure": "url: " + srv.URL + "\ninsecureSkipVerify: true",
		"service.webhook.strict":   "url: " + srv.URL,
	}, nil)
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "insecure"}); err != nil {
		t.Fatalf("insecure: %v", err)
	}
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "strict"}); err == nil {
		t.Error("strict: a self-signed certificate was accepted")
	}
	if n := len(r.requests()); n != 1 {
		t.Errorf("server saw %d requests, want 1", n)
	}
	// The certificate failure is not retried.
	var attempts int
	s := &Sender{Client: &http.Client{Transport: roundTripFunc(func(req *http.Request) (*http.Response, error) {
		attempts++
		return http.DefaultTransport.RoundTrip(req)
	})}}
	ns, _ := c.Render(testEvent(TriggerDeployed), Destination{Service: "strict"})
	if err := s.Send(context.Background(), c, ns[0]); err == nil || attempts != 1 {
		t.Errorf("strict: %v after %d attempts", err, attempts)
	}
}

func TestSendNeedsMatchingRender(t *testing.T) {
	c := mustParse(t, map[string]string{"service.slack": "url: https://s", "service.github": "token: t"}, nil)
	ns, _ := c.Render(testEvent(TriggerDeployed), Destination{Service: "slack"})
	ns[0].Destination.Service = "github"
	if err := fast.Send(context.Background(), c, ns[0]); err == nil || !strings.Contains(err.Error(), "not rendered") {
		t.Errorf("Send = %v", err)
	}
}
