package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"text/template"
	"time"
)

// SignatureHeader carries a webhook body's signature when the service has
// an hmacSecret: "sha256=" and the hex HMAC-SHA256 of the body.
const SignatureHeader = "X-Ferry-Signature-256"

const (
	userAgent      = "ferry-notifications"
	defaultGitHub  = "https://api.github.com"
	defaultGitLab  = "https://gitlab.com"
	defaultContext = "ferry"
	maxAttempts    = 3
)

// service is a configured destination type.
type service interface {
	// render fills n's service-specific part from t; false means the
	// template has nothing to send to this service.
	render(t *messageTemplate, data map[string]any, ev Event, n *Notification) (bool, error)
	// request builds the HTTP request delivering n.
	request(n Notification) (outbound, error)
}

// outbound is one HTTP request to make, with retries.
type outbound struct {
	method   string
	url      string
	header   http.Header
	body     []byte
	insecure bool
}

type serviceParser func(p *parser, key, name, value string) (service, error)

var serviceParsers = map[string]serviceParser{
	"webhook": parseWebhook,
	"slack":   parseSlack,
	"github":  parseGitHub,
	"gitlab":  parseGitLab,
}

// parseService reads `service.<type>` or `service.<type>.<name>`; the
// service is called <name>, else <type>.
func (p *parser) parseService(key, value string) error {
	kind, name, _ := strings.Cut(strings.TrimPrefix(key, "service."), ".")
	if kind == "" {
		return fmt.Errorf("%s: no service type", key)
	}
	if name == "" {
		name = kind
	}
	build, ok := serviceParsers[kind]
	if !ok {
		p.warnf("%s: service type %q is not supported; ignored", key, kind)
		p.cfg.unsupported[name] = kind
		return nil
	}
	if kind == "webhook" && name == kind {
		return fmt.Errorf("%s: a webhook needs a name (service.webhook.<name>)", key)
	}
	if prev, dup := p.serviceKeys[name]; dup {
		return fmt.Errorf("%s: service name %q is already defined by %s", key, name, prev)
	}
	svc, err := build(p, key, name, value)
	if err != nil {
		return err
	}
	p.serviceKeys[name] = key
	p.cfg.services[name] = svc
	return nil
}

// checkMethod validates an HTTP method, returning it in upper case.
func checkMethod(key, method string) (string, error) {
	m := strings.ToUpper(method)
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return m, nil
	}
	return "", fmt.Errorf("%s: unsupported method %q", key, method)
}

// webhook

type webhookSpec struct {
	URL     string `json:"url"`
	Headers []struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	} `json:"headers"`
	Method             string `json:"method"`
	HMACSecret         string `json:"hmacSecret"`
	InsecureSkipVerify bool   `json:"insecureSkipVerify"`
	BasicAuth          *struct {
		Username string `json:"username"`
		Password string `json:"password"`
	} `json:"basicAuth"`
}

type header struct{ name, value string }

type webhookService struct {
	name       string
	url        string
	method     string
	headers    []header
	hmacSecret []byte
	basicAuth  string // "Basic ..." or empty
	insecure   bool
}

func parseWebhook(p *parser, key, name, value string) (service, error) {
	var s webhookSpec
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if err := p.expandAll(key, &s.URL, &s.HMACSecret); err != nil {
		return nil, err
	}
	if _, err := p.checkURL(key, "url", s.URL); err != nil {
		return nil, err
	}
	w := &webhookService{name: name, url: s.URL, method: http.MethodPost,
		hmacSecret: []byte(s.HMACSecret), insecure: s.InsecureSkipVerify}
	if s.Method != "" {
		m, err := checkMethod(key, s.Method)
		if err != nil {
			return nil, err
		}
		w.method = m
	}
	if err := p.webhookAuth(key, s, w); err != nil {
		return nil, err
	}
	p.sensitive(s.HMACSecret)
	return w, nil
}

// webhookAuth sets w's headers and basic authentication from s.
func (p *parser) webhookAuth(key string, s webhookSpec, w *webhookService) error {
	for i, h := range s.Headers {
		if h.Name == "" {
			return fmt.Errorf("%s: header %d has no name", key, i)
		}
		if err := p.expandAll(key, &h.Value); err != nil {
			return err
		}
		w.headers = append(w.headers, header{name: h.Name, value: h.Value})
	}
	if a := s.BasicAuth; a != nil {
		if err := p.expandAll(key, &a.Username, &a.Password); err != nil {
			return err
		}
		creds := base64.StdEncoding.EncodeToString([]byte(a.Username + ":" + a.Password))
		w.basicAuth = "Basic " + creds
		p.sensitive(a.Password, creds)
	}
	return nil
}

func (w *webhookService) render(t *messageTemplate, data map[string]any, ev Event, n *Notification) (bool, error) {
	wt, ok := t.webhook[w.name]
	if !ok {
		body, err := defaultWebhookBody(ev, n.Message)
		n.Webhook = &WebhookRequest{Method: w.method, Body: body}
		return err == nil, err
	}
	req := &WebhookRequest{Method: firstNonEmpty(wt.method, w.method)}
	path, err := execute(wt.path, data)
	if err != nil {
		return false, err
	}
	body, err := execute(wt.body, data)
	if err != nil {
		return false, err
	}
	req.Path, req.Body = path, []byte(body)
	n.Webhook = req
	return true, nil
}

// defaultWebhookBody is the JSON sent by a template without a webhook part
// for the service.
func defaultWebhookBody(ev Event, message string) ([]byte, error) {
	meta, _ := ev.App["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	b, err := toJSON(struct {
		Trigger     string `json:"trigger"`
		Application string `json:"application"`
		Namespace   string `json:"namespace,omitempty"`
		Revision    string `json:"revision,omitempty"`
		Message     string `json:"message"`
	}{ev.Trigger, name, namespace, ev.Revision, message})
	return []byte(b), err
}

func (w *webhookService) request(n Notification) (outbound, error) {
	if n.Webhook == nil {
		return outbound{}, errors.New("notification was not rendered for a webhook")
	}
	body := n.Webhook.Body
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	if len(body) > 0 {
		h.Set("Content-Type", contentType(body))
	}
	setHeaders(h, w.headers)
	if w.basicAuth != "" {
		h.Set("Authorization", w.basicAuth)
	}
	if len(w.hmacSecret) > 0 {
		h.Set(SignatureHeader, sign(w.hmacSecret, body))
	}
	return outbound{method: n.Webhook.Method, url: joinPath(w.url, n.Webhook.Path),
		header: h, body: body, insecure: w.insecure}, nil
}

// joinPath appends path to u's path, before its query.
func joinPath(u, path string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i] + path + u[i:]
	}
	return u + path
}

// setHeaders sets the configured headers, replacing defaults of the same
// name and keeping repeated configured names.
func setHeaders(h http.Header, headers []header) {
	seen := map[string]bool{}
	for _, hd := range headers {
		k := http.CanonicalHeaderKey(hd.name)
		if !seen[k] {
			h.Del(k)
			seen[k] = true
		}
		h.Add(k, hd.value)
	}
}

func contentType(body []byte) string {
	if json.Valid(body) {
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}

// sign is the SignatureHeader value for body.
func sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// slack

type slackService struct{ url string }

func parseSlack(p *parser, key, _, value string) (service, error) {
	var s struct {
		URL   string `json:"url"`
		Token string `json:"token"`
	}
	if err := unmarshal(key, value, &s); err != nil {
		return nil, err
	}
	if s.URL == "" && s.Token != "" {
		return nil, fmt.Errorf("%s: url is required: Ferry posts to incoming webhooks, token-based Slack apps are not supported", key)
	}
	if err := p.expandAll(key, &s.URL); err != nil {
		return nil, err
	}
	u, err := p.checkURL(key, "url", s.URL)
	if err != nil {
		return nil, err
	}
	p.sensitive(s.URL, strings.TrimPrefix(u.Path, "/")) // the path is the webhook's secret
	return &slackService{url: s.URL}, nil
}

func (s *slackService) render(t *messageTemplate, data map[string]any, _ Event, n *Notification) (bool, error) {
	text := n.Message
	if t.slackText != nil {
		var err error
		if text, err = execute(t.slackText, data); err != nil {
			return false, err
		}
	}
	if strings.TrimSpace(text) == "" {
		return false, nil
	}
	n.Slack = &SlackMessage{Text: text, Channel: n.Destination.Recipient}
	return true, nil
}

func (s *slackService) request(n Notification) (outbound, error) {
	if n.Slack == nil {
		return outbound{}, errors.New("notification was not rendered for Slack")
	}
	body, err := toJSON(struct {
		Channel string `json:"channel,omitempty"`
		Text    string `json:"text"`
	}{n.Slack.Channel, n.Slack.Text})
	if err != nil {
		return outbound{}, err
	}
	return jsonPost(s.url, []byte(body)), nil
}

// jsonPost is a POST of a JSON body.
func jsonPost(u string, body []byte) outbound {
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("Content-Type", "application/json")
	return outbound{method: http.MethodPost, url: u, header: h, body: body}
}

// commit statuses

// CommitState maps triggers to commit states: on-deployed/on-sync-succeeded
// → success, on-sync-failed/on-health-degraded → failure; others send no
// commit status (empty).
func CommitState(trigger string) string {
	switch trigger {
	case TriggerDeployed, TriggerSyncSucceeded:
		return "success"
	case TriggerSyncFailed, TriggerHealthDegraded:
		return "failure"
	}
	return ""
}

// statusSpec is a `service.github` or `service.gitlab` value.
type statusSpec struct {
	Token             string `json:"token"`
	BaseURL           string `json:"baseURL"`
	EnterpriseBaseURL string `json:"enterpriseBaseURL"` // Argo CD's name for GitHub's
	Context           string `json:"context"`
	Name              string `json:"name"`
}

// statusService posts commit statuses.
type statusService struct {
	kind    string // github or gitlab
	token   string
	baseURL string
	context string
}

func parseGitHub(p *parser, key, _, value string) (service, error) {
	s, err := parseStatus(p, key, value, defaultGitHub)
	if err != nil {
		return nil, err
	}
	s.kind = "github"
	return &githubService{s}, nil
}

func parseGitLab(p *parser, key, _, value string) (service, error) {
	s, err := parseStatus(p, key, value, defaultGitLab)
	if err != nil {
		return nil, err
	}
	s.kind = "gitlab"
	return &gitlabService{s}, nil
}

func parseStatus(p *parser, key, value, defaultBase string) (statusService, error) {
	var s statusSpec
	if err := unmarshal(key, value, &s); err != nil {
		return statusService{}, err
	}
	if err := p.expandAll(key, &s.Token, &s.BaseURL, &s.EnterpriseBaseURL); err != nil {
		return statusService{}, err
	}
	if s.Token == "" {
		return statusService{}, fmt.Errorf("%s: token is required (GitHub Apps are not supported)", key)
	}
	base := firstNonEmpty(s.BaseURL, s.EnterpriseBaseURL, defaultBase)
	if _, err := p.checkURL(key, "baseURL", base); err != nil {
		return statusService{}, err
	}
	p.sensitive(s.Token)
	return statusService{token: s.Token, baseURL: strings.TrimRight(base, "/"),
		context: firstNonEmpty(s.Context, s.Name, defaultContext)}, nil
}

// renderStatus renders t's commit status part for s.kind; nil when there
// is no state to send.
func (s statusService) renderStatus(t *messageTemplate, data map[string]any, ev Event, n *Notification) (*CommitStatus, error) {
	st := t.status[s.kind]
	parts := make([]string, 4)
	for i, tt := range []*template.Template{st.state, st.description, st.context, st.targetURL} {
		v, err := execute(tt, data)
		if err != nil {
			return nil, err
		}
		parts[i] = strings.TrimSpace(v)
	}
	state := firstNonEmpty(parts[0], CommitState(ev.Trigger))
	if state == "" {
		return nil, nil
	}
	repo, err := repoPath(ev.RepoURL)
	if err != nil {
		return nil, err
	}
	if !shaPattern.MatchString(ev.Revision) {
		return nil, fmt.Errorf("revision %q is not a commit SHA", ev.Revision)
	}
	return &CommitStatus{Repo: repo, Revision: ev.Revision, State: state,
		Context:     firstNonEmpty(parts[2], s.context),
		Description: firstNonEmpty(parts[1], n.Message), TargetURL: parts[3]}, nil
}

var shaPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// oneLine collapses s's white space and cuts it to max characters.
func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

type githubService struct{ statusService }

var githubStates = map[string]bool{"success": true, "failure": true, "error": true, "pending": true}

func (g *githubService) render(t *messageTemplate, data map[string]any, ev Event, n *Notification) (bool, error) {
	cs, err := g.renderStatus(t, data, ev, n)
	if cs == nil || err != nil {
		return false, err
	}
	if !githubStates[cs.State] {
		return false, fmt.Errorf("GitHub commit state %q is not success, failure, error or pending", cs.State)
	}
	if _, _, err := githubRepo(cs.Repo, ev.RepoURL); err != nil {
		return false, err
	}
	cs.Description = oneLine(cs.Description, 140)
	n.Status = cs
	return true, nil
}

func (g *githubService) request(n Notification) (outbound, error) {
	cs := n.Status
	if cs == nil {
		return outbound{}, errors.New("notification was not rendered for a commit status")
	}
	owner, repo, err := githubRepo(cs.Repo, cs.Repo)
	if err != nil {
		return outbound{}, err
	}
	body, err := toJSON(struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url,omitempty"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}{cs.State, cs.TargetURL, cs.Description, cs.Context})
	if err != nil {
		return outbound{}, err
	}
	out := jsonPost(fmt.Sprintf("%s/repos/%s/%s/statuses/%s", g.baseURL,
		url.PathEscape(owner), url.PathEscape(repo), url.PathEscape(cs.Revision)), []byte(body))
	out.header.Set("Authorization", "Bearer "+g.token)
	out.header.Set("Accept", "application/vnd.github+json")
	out.header.Set("X-GitHub-Api-Version", "2022-11-28")
	return out, nil
}

// githubRepo splits "owner/repo"; errors name repoURL.
func githubRepo(path, repoURL string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(path, "/")
	if !ok || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("repoURL %q: GitHub needs an owner/repo path", displayURL(repoURL))
	}
	return owner, repo, nil
}

type gitlabService struct{ statusService }

// gitlabStates maps commit states (GitHub's and GitLab's own) to GitLab's.
var gitlabStates = map[string]string{
	"success": "success", "failure": "failed", "error": "failed", "failed": "failed",
	"pending": "pending", "running": "running", "canceled": "canceled",
}

func (g *gitlabService) render(t *messageTemplate, data map[string]any, ev Event, n *Notification) (bool, error) {
	cs, err := g.renderStatus(t, data, ev, n)
	if cs == nil || err != nil {
		return false, err
	}
	state, ok := gitlabStates[cs.State]
	if !ok {
		return false, fmt.Errorf("GitLab commit state %q is not success, failed, running, pending or canceled", cs.State)
	}
	cs.State = state
	cs.Description = oneLine(cs.Description, 255)
	n.Status = cs
	return true, nil
}

func (g *gitlabService) request(n Notification) (outbound, error) {
	cs := n.Status
	if cs == nil {
		return outbound{}, errors.New("notification was not rendered for a commit status")
	}
	q := url.Values{}
	q.Set("state", cs.State)
	q.Set("name", cs.Context)
	q.Set("description", cs.Description)
	if cs.TargetURL != "" {
		q.Set("target_url", cs.TargetURL)
	}
	u := fmt.Sprintf("%s/api/v4/projects/%s/statuses/%s?%s", g.baseURL,
		url.PathEscape(cs.Repo), url.PathEscape(cs.Revision), q.Encode())
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("PRIVATE-TOKEN", g.token)
	return outbound{method: http.MethodPost, url: u, header: h}, nil
}

// scpURL matches git's scp-like syntax: [user@]host:path.
var scpURL = regexp.MustCompile(`^(?:[^@/:]+@)?[^@/:]+:([^/].*)$`)

// repoPath extracts a repository's path from its URL: "owner/repo", or a
// GitLab project's full path with subgroups. https://host/owner/repo(.git),
// ssh://git@host/owner/repo.git and git@host:owner/repo.git are understood.
func repoPath(repoURL string) (string, error) {
	raw := strings.TrimSpace(repoURL)
	var path string
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("repoURL %q: cannot parse", displayURL(repoURL))
		}
		path = u.Path
	} else if m := scpURL.FindStringSubmatch(raw); m != nil {
		path = m[1]
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	segments := strings.Split(path, "/")
	if len(segments) < 2 {
		return "", fmt.Errorf("repoURL %q: no owner/repo path", displayURL(repoURL))
	}
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("repoURL %q: no owner/repo path", displayURL(repoURL))
		}
	}
	return path, nil
}

// displayURL is raw without its password, for errors.
func displayURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}

// sending

// Sender delivers notifications over HTTP.
type Sender struct {
	// Client makes the requests; nil is a client with a 30s timeout.
	Client *http.Client
	// Backoff is the wait before each retry (its last element repeats);
	// empty is 1s, then 2s.
	Backoff []time.Duration

	mu       sync.Mutex
	insecure *http.Client // Client without TLS verification, made once
}

var (
	defaultClient  = &http.Client{Timeout: 30 * time.Second}
	defaultBackoff = []time.Duration{time.Second, 2 * time.Second}
)

// Send delivers one notification with up to 3 attempts (backoff 1s, 2s,
// overridable via Sender.Backoff for tests), retrying on network errors and
// 5xx/429; the error never contains a secret (tokens, URL query secrets,
// HMAC keys are redacted) nor the request's URL beyond its host. The error
// wraps ctx's error when ctx ended the attempts.
func (s *Sender) Send(ctx context.Context, c *Config, n Notification) error {
	svc, err := c.service(n.Destination.Service)
	if err != nil {
		return err
	}
	out, err := svc.request(n)
	if err != nil {
		return c.sendError(n, nil, err)
	}
	client, err := s.client(out.insecure)
	if err != nil {
		return c.sendError(n, &out, err)
	}
	if err := s.deliver(ctx, client, out, c.redact); err != nil {
		return c.sendError(n, &out, err)
	}
	return nil
}

// sendError is an error from Send. Its message has what came from outside
// (network errors, replies, the host) redacted, and it wraps nothing but a
// context error.
type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

func (c *Config) sendError(n Notification, out *outbound, err error) error {
	where := fmt.Sprintf("notify %s (template %s)", n.Destination.Service, n.Template)
	if out != nil {
		where += fmt.Sprintf(": %s %s", out.method, c.redact(origin(out.url)))
	}
	e := &sendError{msg: where + ": " + err.Error()}
	for _, ce := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ce) {
			e.cause = ce
		}
	}
	return e
}

// origin is u's scheme and host: the rest may hold secrets.
func origin(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(invalid URL)"
	}
	return p.Scheme + "://" + p.Host
}

// client is the HTTP client to use, skipping TLS verification if insecure.
func (s *Sender) client(insecure bool) (*http.Client, error) {
	base := s.Client
	if base == nil {
		base = defaultClient
	}
	if !insecure {
		return base, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.insecure != nil {
		return s.insecure, nil
	}
	t, ok := base.Transport.(*http.Transport)
	if base.Transport == nil {
		t, ok = http.DefaultTransport.(*http.Transport)
	}
	if !ok {
		return nil, errors.New("insecureSkipVerify needs the client's transport to be an *http.Transport")
	}
	t = t.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{}
	}
	t.TLSClientConfig.InsecureSkipVerify = true // the service asked for it
	c := *base
	c.Transport = t
	s.insecure = &c
	return s.insecure, nil
}

func (s *Sender) backoff(retry int) time.Duration {
	b := s.Backoff
	if len(b) == 0 {
		b = defaultBackoff
	}
	return b[min(retry, len(b)-1)]
}

// deliver makes out's request, retrying network errors, 5xx and 429;
// redact cleans the text of network errors and replies.
func (s *Sender) deliver(ctx context.Context, client *http.Client, out outbound, redact func(string) string) error {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if attempt > 1 {
			if werr := sleep(ctx, s.backoff(attempt-2)); werr != nil {
				return fmt.Errorf("%w (after %d attempts: %v)", werr, attempt-1, err)
			}
		}
		var retry bool
		if retry, err = try(ctx, client, out, redact); err == nil {
			return nil
		}
		if !retry {
			return err
		}
		if attempt == maxAttempts {
			return fmt.Errorf("after %d attempts: %w", attempt, err)
		}
	}
	return err
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// try makes out's request once; retry tells whether a failure may pass.
func try(ctx context.Context, client *http.Client, out outbound, redact func(string) string) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, out.method, out.url, bytes.NewReader(out.body))
	if err != nil {
		return false, errors.New("invalid request URL")
	}
	req.Header = out.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		var cert *tls.CertificateVerificationError
		return !errors.As(err, &cert), redactedError{redact(err.Error()), err}
	}
	defer resp.Body.Close()
	snippet := redact(readSnippet(resp.Body))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("status %s", resp.Status)
	if snippet != "" {
		err = fmt.Errorf("status %s: %s", resp.Status, snippet)
	}
	return resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}

// redactedError is err with a redacted message; it unwraps to err for
// errors.Is and errors.As, never for display.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// readSnippet reads the response (so the connection can be reused) and
// returns its start on one line.
func readSnippet(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 64<<10))
	return oneLine(string(b[:min(len(b), 512)]), 200)
}
