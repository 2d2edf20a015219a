// Package webhook receives Git push events (GitHub, GitLab, Gitea, Gogs,
// Bitbucket Server and Bitbucket Cloud, plus a generic JSON form) and
// registry push events, and turns them into refresh requests.
//
// Every request is authenticated with the provider's shared secret before
// its JSON is parsed, the body is never read beyond Handler.MaxBodyBytes,
// and replayed deliveries are dropped. Only verified, well-formed events
// reach the Pushed and ImagePushed callbacks.
package webhook

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

const (
	defaultMaxBodyBytes = 2 << 20
	callbackTimeout     = 30 * time.Second
	replayCapacity      = 10000
	replayTTL           = 24 * time.Hour
	maxLoggedDelivery   = 64
)

// Push is a push event: the repository's clone URLs (all forms the payload
// gives: https, ssh, git), the branch pushed (without refs/heads/; empty for
// a tag push, with Tag set), and the commit after the push.
type Push struct {
	// Provider is "github", "gitlab", "bitbucket-server",
	// "bitbucket-cloud", "gitea", "gogs" or "generic".
	Provider string
	// URLs are the repository's URLs as the payload gives them (clone
	// URLs and the web URL), deduplicated, with any user info removed from
	// http(s) URLs. There is always at least one.
	URLs []string
	// Branch is the branch pushed, without refs/heads/; empty for a tag.
	Branch string
	// Tag is the tag pushed, without refs/tags/; empty for a branch.
	Tag string
	// After is the commit the ref points to after the push: a hex object
	// id, all zeros when the ref was deleted, or empty when the payload
	// does not give one.
	After string
}

// ImagePush is a registry push (generic form): the image repository, e.g.
// "registry.example.com/team/app", and the tag.
type ImagePush struct{ Image, Tag string }

// Secrets returns the shared secrets configured for each provider (provider
// name → secret); an empty secret means the provider is not accepted at all
// (unauthenticated requests never cause a refresh). It is asked on every
// request, so rotated secrets apply at once. The generic and registry
// routes both use the "generic" secret.
type Secrets func(ctx context.Context) (map[string]string, error)

// Handler is the receiver. Pushed and ImagePushed are called
// (synchronously, with the request's context detached from cancellation but
// bounded to 30s) only for verified, well-formed events.
//
// Routes: POST /api/webhook (provider detected from headers), POST
// /api/webhook/generic and POST /api/webhook/registry. The zero value
// (with Secrets set) is ready to use; a Handler must not be copied after
// first use.
type Handler struct {
	// Secrets gives the per-provider shared secrets; nil accepts nothing.
	Secrets Secrets
	// Pushed is called once per pushed ref and returns how many objects
	// were refreshed, echoed in the response. Nil counts as 0.
	Pushed func(ctx context.Context, p Push) int
	// ImagePushed is called for a registry push; same contract as Pushed.
	ImagePushed func(ctx context.Context, p ImagePush) int
	// MaxBodyBytes caps the request body; default 2 MiB (GitHub caps
	// payloads at 25 MB; pushes are far smaller). A larger body is
	// answered 413 without being read further.
	MaxBodyBytes int64
	// Log, if set, receives one line per request; it is never given a
	// secret, a signature, a token or the body.
	Log func(msg string, keysAndValues ...any)
	// Observe, if set, is told of each request's provider ("unknown" before
	// one is recognised) and result: accepted, unauthorized, too_large,
	// invalid or error; for metrics.
	Observe func(provider, result string)

	once sync.Once
	seen *replayCache
	now  func() time.Time // tests only; nil means time.Now
}

// result is the success response body.
type result struct {
	Refreshed int    `json:"refreshed"`
	Ignored   string `json:"ignored,omitempty"`
}

// routes maps a path to the function choosing its provider from headers.
var routes = map[string]func(http.Header) *provider{
	"/api/webhook":          detectProvider,
	"/api/webhook/generic":  func(http.Header) *provider { return generic },
	"/api/webhook/registry": func(http.Header) *provider { return registry },
}

// ServeHTTP routes, authenticates, parses and dispatches one webhook.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	provider := "unknown"
	if h.Observe != nil {
		defer func() { h.Observe(provider, resultOf(sw.code)) }()
	}
	defer h.recoverPanic(sw)
	detect, ok := routes[strings.TrimSuffix(r.URL.Path, "/")]
	if !ok {
		h.reject(sw, http.StatusNotFound, "not found", "", "")
		return
	}
	if r.Method != http.MethodPost {
		sw.Header().Set("Allow", http.MethodPost)
		h.reject(sw, http.StatusMethodNotAllowed, "method not allowed", "", "")
		return
	}
	p := detect(r.Header)
	if p == nil {
		h.reject(sw, http.StatusBadRequest, "unknown webhook provider", "", "")
		return
	}
	provider = p.name
	h.serve(sw, r, p)
}

// resultOf names a response for Observe.
func resultOf(code int) string {
	switch {
	case code < 300:
		return "accepted"
	case code == http.StatusUnauthorized:
		return "unauthorized"
	case code == http.StatusRequestEntityTooLarge:
		return "too_large"
	case code >= 500:
		return "error"
	}
	return "invalid"
}

// serve authenticates the request for provider p, then dispatches it.
func (h *Handler) serve(w *statusWriter, r *http.Request, p *provider) {
	delivery := r.Header.Get(p.deliveryHeader)
	secret, err := h.secret(r.Context(), p.secret)
	if err != nil {
		h.log("webhook secrets unavailable", "provider", p.name, "error", err.Error())
		h.reject(w, http.StatusInternalServerError, "secrets unavailable", p.name, delivery)
		return
	}
	if secret == "" {
		h.unauthorized(w, "provider not configured", p.name, delivery)
		return
	}
	body, status := h.readBody(w, r)
	if status != 0 {
		h.reject(w, status, strings.ToLower(http.StatusText(status)), p.name, delivery)
		return
	}
	if !p.verify(r.Header, body, secret) {
		h.unauthorized(w, "missing or invalid signature", p.name, delivery)
		return
	}
	h.dispatch(w, r, p, delivery, body)
}

// dispatch handles a verified request: ping, ignored event or push.
func (h *Handler) dispatch(w *statusWriter, r *http.Request, p *provider, delivery string, body []byte) {
	switch p.kind(r.Header.Get(p.eventHeader)) {
	case kindPing:
		h.log("webhook ping", "provider", p.name, "delivery", logSafe(delivery))
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "pong")
		return
	case kindIgnored:
		h.log("webhook event ignored", "provider", p.name, "delivery", logSafe(delivery))
		writeJSON(w, result{Ignored: "event"})
		return
	}
	ev, err := parseBody(p, r.Header, body)
	if err != nil {
		h.reject(w, http.StatusBadRequest, err.Error(), p.name, delivery)
		return
	}
	if h.replayed(p.name, delivery) {
		h.reject(w, http.StatusBadRequest, "duplicate delivery", p.name, delivery)
		return
	}
	n := h.deliver(r.Context(), p, ev)
	h.log("webhook accepted", "provider", p.name, "delivery", logSafe(delivery),
		"events", ev.count(), "refreshed", n)
	writeJSON(w, result{Refreshed: n})
}

// parseBody extracts the JSON payload (form-encoded bodies carry it in the
// "payload" field) and parses it with p's parser.
func parseBody(p *provider, hdr http.Header, body []byte) (parsed, error) {
	payload, err := formPayload(hdr, body)
	if err != nil {
		return parsed{}, err
	}
	return p.parse(payload)
}

// deliver calls the callbacks for ev with a detached, bounded context and
// returns the sum of what they report.
func (h *Handler) deliver(ctx context.Context, p *provider, ev parsed) int {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), callbackTimeout)
	defer cancel()
	if ev.image != nil {
		if h.ImagePushed == nil {
			return 0
		}
		return h.ImagePushed(ctx, *ev.image)
	}
	n := 0
	for _, push := range ev.pushes {
		if h.Pushed == nil || ctx.Err() != nil {
			break
		}
		push.Provider = p.name
		n += h.Pushed(ctx, push)
	}
	return n
}

// secret returns the configured secret for key ("" when not configured).
func (h *Handler) secret(ctx context.Context, key string) (string, error) {
	if h.Secrets == nil {
		return "", nil
	}
	secrets, err := h.Secrets(ctx)
	if err != nil {
		return "", err
	}
	return secrets[key], nil
}

// readBody reads at most MaxBodyBytes of the body. It returns a non-zero
// HTTP status when the body is too large or cannot be read.
func (h *Handler) readBody(w *statusWriter, r *http.Request) ([]byte, int) {
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	if r.ContentLength > limit {
		return nil, http.StatusRequestEntityTooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w.ResponseWriter, r.Body, limit))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, http.StatusRequestEntityTooLarge
	case err != nil:
		return nil, http.StatusBadRequest
	}
	return body, 0
}

// replayed records (provider, delivery) and reports whether it was already
// seen. Requests without a delivery id are never considered replays.
func (h *Handler) replayed(provider, delivery string) bool {
	if delivery == "" {
		return false
	}
	h.once.Do(func() { h.seen = newReplayCache(replayCapacity, replayTTL) })
	now := time.Now()
	if h.now != nil {
		now = h.now()
	}
	return h.seen.seen(sha256.Sum256([]byte(provider+"\x00"+delivery)), now)
}

// unauthorized answers 401 without telling whether the provider is
// configured; the reason goes only to the log.
func (h *Handler) unauthorized(w *statusWriter, reason, provider, delivery string) {
	h.log("webhook rejected", "status", http.StatusUnauthorized, "reason", reason,
		"provider", provider, "delivery", logSafe(delivery))
	http.Error(w, "unauthorized", http.StatusUnauthorized)
}

// reject logs and answers status with a short reason (never the body).
func (h *Handler) reject(w *statusWriter, status int, reason, provider, delivery string) {
	h.log("webhook rejected", "status", status, "reason", reason,
		"provider", provider, "delivery", logSafe(delivery))
	http.Error(w, reason, status)
}

// recoverPanic turns a panic into a 500; it never lets one escape.
func (h *Handler) recoverPanic(w *statusWriter) {
	v := recover()
	if v == nil {
		return
	}
	msg := fmt.Sprint(v)
	if len(msg) > 200 {
		msg = msg[:200]
	}
	h.log("webhook panic recovered", "panic", msg)
	if !w.wrote {
		http.Error(w, "internal error", http.StatusInternalServerError)
	}
}

func (h *Handler) log(msg string, kv ...any) {
	if h.Log != nil {
		h.Log(msg, kv...)
	}
}

// logSafe bounds and sanitises a client-supplied delivery id for logging.
func logSafe(s string) string {
	if len(s) > maxLoggedDelivery {
		s = s[:maxLoggedDelivery]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '?'
		}
		return r
	}, s)
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter remembers whether a response was started, so a recovered
// panic does not write a second header.
type statusWriter struct {
	http.ResponseWriter
	wrote bool
	code  int
}

func (w *statusWriter) WriteHeader(code int) {
	w.wrote, w.code = true, code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// replayCache remembers the last capacity delivery keys for at most ttl.
// It is insertion-ordered: a repeated key does not refresh its entry, so
// "seen" means seen among the last capacity deliveries within ttl.
type replayCache struct {
	mu       sync.Mutex
	order    *list.List // of replayEntry, newest at front
	index    map[[32]byte]*list.Element
	capacity int
	ttl      time.Duration
}

type replayEntry struct {
	key [32]byte
	at  time.Time
}

func newReplayCache(capacity int, ttl time.Duration) *replayCache {
	return &replayCache{order: list.New(), index: map[[32]byte]*list.Element{}, capacity: capacity, ttl: ttl}
}

// seen reports whether key was recorded and, if not, records it.
func (c *replayCache) seen(key [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, ok := c.index[key]; ok {
		return true
	}
	c.index[key] = c.order.PushFront(replayEntry{key: key, at: now})
	if c.order.Len() > c.capacity {
		c.remove(c.order.Back())
	}
	return false
}

func (c *replayCache) expire(now time.Time) {
	for e := c.order.Back(); e != nil && now.Sub(e.Value.(replayEntry).at) >= c.ttl; e = c.order.Back() {
		c.remove(e)
	}
}

func (c *replayCache) remove(e *list.Element) {
	delete(c.index, e.Value.(replayEntry).key)
	c.order.Remove(e)
}
