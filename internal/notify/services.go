package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ferrycd/ferry/internal/redact"
)

const (
	userAgent   = "ferry-notifications"
	maxAttempts = 3
)

// service is a configured destination type: it turns a rendered
// notification into the requests that deliver it. It makes no request
// itself: the Sender makes them all, through one client that holds the
// network boundary, with the same retries and redaction.
type service interface {
	// requests builds the requests delivering n, in order; none when the
	// template has nothing for this service.
	requests(n Notification) ([]outbound, error)
}

// outbound is one request to make, with retries: HTTP, or an email when
// mail is set.
type outbound struct {
	method   string
	url      string
	header   http.Header
	body     []byte
	insecure bool
	// reply, when set, reads a successful reply's body: an error fails the
	// delivery (an API that answers 200 with {"ok": false}), a request is
	// made next (a deployment's status after the deployment).
	reply func(body []byte) (*outbound, error)
	// mail is an email to send over SMTP instead of an HTTP request.
	mail *mailMessage
	// secrets are credentials obtained at run time (a GitHub App's JWT and
	// installation token) to redact besides the configuration's.
	secrets []string
}

type serviceParser func(p *parser, key, name, value string) (service, error)

var serviceParsers = map[string]serviceParser{
	"webhook": parseWebhook,
	"slack":   parseSlack,
	"github":  parseGitHub,
	"gitlab":  parseGitLab,
	"email":   parseEmail,

	"mattermost": parseMattermost,
	"telegram":   parseTelegram,

	"teams":       parseTeams,
	"pagerdutyv2": parsePagerDutyV2,
	"opsgenie":    parseOpsgenie,
	"grafana":     parseGrafana,
	"googlechat":  parseGoogleChat,
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

// jsonPost is a POST of a JSON body.
func jsonPost(u string, body []byte) outbound {
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("Content-Type", "application/json")
	return outbound{method: http.MethodPost, url: u, header: h, body: body}
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
	defaultClient  = NewHTTPClient(nil)
	defaultBackoff = []time.Duration{time.Second, 2 * time.Second}
)

// NewHTTPClient is the client notifications are sent with, over transport
// (nil: http.DefaultTransport): a 30 s timeout, and no redirect to another
// host, where Go would send the request's headers (tokens, signatures)
// and, for 307 and 308, its body.
func NewHTTPClient(transport http.RoundTripper) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: transport, CheckRedirect: sameHostRedirects}
}

func sameHostRedirects(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Host != via[0].URL.Host || req.URL.Scheme != via[0].URL.Scheme {
		return fmt.Errorf("redirected to another host (%s): not followed", req.URL.Scheme+"://"+req.URL.Host)
	}
	return nil
}

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
	outs, err := svc.requests(n)
	if err != nil {
		return c.sendError(n, nil, err)
	}
	if len(outs) == 0 {
		return ErrNothingToSend
	}
	for _, out := range outs {
		for next := &out; next != nil; {
			if next, err = s.sendOne(ctx, c, *next); err != nil {
				return c.sendError(n, &out, err)
			}
		}
	}
	return nil
}

// sendOne makes one request and returns the one its reply asks for next.
func (s *Sender) sendOne(ctx context.Context, c *Config, out outbound) (*outbound, error) {
	redact := c.redact
	if len(out.secrets) > 0 {
		runtime := newRedactor(out.secrets)
		redact = func(s string) string { return runtime.Replace(c.redact(s)) }
	}
	if out.mail != nil {
		return nil, s.sendMail(ctx, out, redact)
	}
	client, err := s.client(out.insecure)
	if err != nil {
		return nil, err
	}
	body, err := s.deliver(ctx, client, out, redact)
	if err != nil || out.reply == nil {
		return nil, err
	}
	next, err := out.reply(body)
	if err != nil {
		return nil, redactedError{redact(err.Error()), err}
	}
	return next, nil
}

// ErrNothingToSend is Send's answer for a template that has nothing for
// the destination's service (no commit state for a commit status).
var ErrNothingToSend = errors.New("the template has nothing to send to this service")

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
func (s *Sender) deliver(ctx context.Context, client *http.Client, out outbound, redact func(string) string) ([]byte, error) {
	var err error
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if attempt > 1 {
			if werr := sleep(ctx, s.backoff(attempt-2)); werr != nil {
				return nil, fmt.Errorf("%w (after %d attempts: %v)", werr, attempt-1, err)
			}
		}
		var retry bool
		var body []byte
		if body, retry, err = try(ctx, client, out, redact); err == nil {
			return body, nil
		}
		if !retry {
			return nil, err
		}
		if attempt == maxAttempts {
			return nil, fmt.Errorf("after %d attempts: %w", attempt, err)
		}
	}
	return nil, err
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

// try makes out's request once and returns a successful reply's body (at
// most 1 MiB); retry tells whether a failure may pass.
func try(ctx context.Context, client *http.Client, out outbound, redact func(string) string) (body []byte, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, out.method, out.url, bytes.NewReader(out.body))
	if err != nil {
		return nil, false, errors.New("invalid request URL")
	}
	req.Header = out.header.Clone()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		var cert *tls.CertificateVerificationError
		return nil, !errors.As(err, &cert), redactedError{redact(err.Error()), err}
	}
	defer resp.Body.Close()
	body, _ = io.ReadAll(io.LimitReader(resp.Body, maxReply))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return body, false, nil
	}
	err = fmt.Errorf("status %s", resp.Status)
	// Redacted whole, then cut: a secret echoed across the cut leaves no
	// prefix behind.
	if snippet := snippetOf([]byte(redact(string(body)))); snippet != "" {
		err = fmt.Errorf("status %s: %s", resp.Status, snippet)
	}
	return nil, resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests, err
}

// maxReply is the most of a reply read.
const maxReply = 1 << 20

// redactedError is err with a redacted message; it unwraps to err for
// errors.Is and errors.As, never for display.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// snippetOf is a reply's start on one line.
func snippetOf(b []byte) string {
	return redact.Line(string(b[:min(len(b), 512)]), 200)
}
