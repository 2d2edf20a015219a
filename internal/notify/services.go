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
	return redact.Line(string(b[:min(len(b), 512)]), 200)
}
