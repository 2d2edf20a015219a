// Package registry lists the tags of an image repository through the OCI
// distribution API (GET /v2/<name>/tags/list), the way Flux's
// ImageRepository (image.toolkit.fluxcd.io) scans a repository.
//
// A scan is bounded: by a timeout, by a maximum number of tags, by a cap on
// the bytes of each response body, and by a short retry backoff so that a
// failing registry is reported quickly. Credentials come from the content of
// a kubernetes.io/dockerconfigjson Secret, parsed here; no credential helper
// is ever run.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	redactpkg "github.com/ferrycd/ferry/internal/redact"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/ferrycd/ferry/internal/httpcap"
	"github.com/ferrycd/ferry/internal/netguard"
)

// Defaults applied by Scan to zero (or negative) Options fields.
const (
	defaultMaxTags      = 20000
	defaultMaxTagLength = 128
	defaultPageSize     = 1000
	defaultTimeout      = 30 * time.Second

	// maxBodyBytes caps every response body read from the registry: the
	// library decodes a tag list page without any size limit.
	maxBodyBytes int64 = 64 << 20
)

// defaultExclusions drops signature tags (cosign's sha256-<digest>.sig).
var defaultExclusions = []string{`^.*\.sig$`}

// tagPattern is the OCI distribution tag grammar.
var tagPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$`)

// retryBackoff retries a 5xx or a network flake once, after about 100ms,
// instead of the library's default 1s and 3s.
var retryBackoff = remote.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Jitter: 0.1, Steps: 2}

// errScanTimeout is the cause of the context when Options.Timeout elapses.
var errScanTimeout = errors.New("scan timeout elapsed")

// Options bound and configure one scan.
type Options struct {
	Insecure bool // plain HTTP (ImageRepository spec.insecure), for test registries
	// DockerConfigJSON is the content of a kubernetes.io/dockerconfigjson
	// Secret's .dockerconfigjson (ImageRepository spec.secretRef);
	// credentials are picked for the image's registry host. Empty: anonymous.
	DockerConfigJSON []byte
	Exclusions       []string      // regexps; a tag matching any is dropped (nil means the default [`^.*\.sig$`], an empty non-nil slice means none)
	MaxTags          int           // bound on tags listed; default 20000; more is an error naming the bound (the caller keeps its last good result)
	MaxTagLength     int           // default 128; longer or malformed tags (not matching ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$) are dropped and counted
	PageSize         int           // tags per page requested (default 1000)
	Timeout          time.Duration // whole scan, default 30s
	UserAgent        string
	// Net says which addresses the registry may be at (link-local and
	// cloud metadata addresses are refused by default, at dial time).
	Net netguard.Policy
}

// Result of a scan.
type Result struct {
	CanonicalName string   // the repository as go-containerregistry names it (name.Repository.Name())
	Tags          []string // valid tags after exclusions, sorted
	Dropped       int      // malformed or too long tags dropped
	Excluded      int      // tags dropped by exclusions
}

// Scan lists the tags of image (e.g. "127.0.0.1:5000/myapp"), following
// pagination, with ctx for cancellation. Errors name the image and say what
// failed (unreachable, 401/403 with the registry's message, 5xx, malformed
// response, bound exceeded); credentials never appear in errors.
func Scan(ctx context.Context, image string, opts Options) (Result, error) {
	return scan(ctx, image, opts, maxBodyBytes)
}

// scan is Scan with the response body cap as a parameter, for tests.
func scan(ctx context.Context, image string, opts Options, bodyCap int64) (Result, error) {
	s, err := newScanner(image, opts.withDefaults(), bodyCap)
	if err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, s.opts.Timeout, errScanTimeout)
	defer cancel()
	raw, err := s.list(ctx)
	if err != nil {
		return Result{}, s.fail(ctx, err)
	}
	return s.filter(raw), nil
}

// withDefaults returns opts with defaults for unset fields.
func (o Options) withDefaults() Options {
	if o.Exclusions == nil {
		o.Exclusions = defaultExclusions
	}
	o.MaxTags = orDefault(o.MaxTags, defaultMaxTags)
	o.MaxTagLength = orDefault(o.MaxTagLength, defaultMaxTagLength)
	o.PageSize = orDefault(o.PageSize, defaultPageSize)
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	return o
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// scanner holds what one scan needs, validated.
type scanner struct {
	image      string
	repo       name.Repository
	opts       Options
	exclusions []*regexp.Regexp
	keychain   authn.Keychain // nil: anonymous
	secrets    []string       // credential strings to keep out of errors
	bodyCap    int64
}

func newScanner(image string, opts Options, bodyCap int64) (*scanner, error) {
	s := &scanner{image: image, opts: opts, bodyCap: bodyCap}
	var err error
	if s.repo, err = parseRepository(image, opts.Insecure); err != nil {
		return nil, s.setupError(err)
	}
	if s.exclusions, err = compileExclusions(opts.Exclusions); err != nil {
		return nil, s.setupError(err)
	}
	if len(opts.DockerConfigJSON) > 0 {
		s.keychain, s.secrets, err = parseDockerConfig(opts.DockerConfigJSON)
		if err != nil {
			return nil, s.setupError(err)
		}
	}
	return s, nil
}

func (s *scanner) setupError(err error) error {
	return fmt.Errorf("scanning image %q: %w", s.image, err)
}

func parseRepository(image string, insecure bool) (name.Repository, error) {
	var opts []name.Option
	if insecure {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(image, opts...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("invalid image name: %w", err)
	}
	return repo, nil
}

func compileExclusions(exprs []string) ([]*regexp.Regexp, error) {
	res := make([]*regexp.Regexp, 0, len(exprs))
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, fmt.Errorf("invalid exclusion %q: %w", e, err)
		}
		res = append(res, re)
	}
	return res, nil
}

// remoteOptions configures go-containerregistry for the scan.
func (s *scanner) remoteOptions() []remote.Option {
	opts := []remote.Option{
		remote.WithTransport(httpcap.Transport(s.opts.Net.Guard(remote.DefaultTransport), s.bodyCap)),
		remote.WithPageSize(s.opts.PageSize),
		remote.WithRetryBackoff(retryBackoff),
	}
	if s.keychain != nil {
		opts = append(opts, remote.WithAuthFromKeychain(s.keychain))
	}
	if s.opts.UserAgent != "" {
		opts = append(opts, remote.WithUserAgent(s.opts.UserAgent))
	}
	return opts
}

// list reads the tag list page by page, stopping as soon as more than
// MaxTags tags have been listed.
func (s *scanner) list(ctx context.Context) ([]string, error) {
	puller, err := remote.NewPuller(s.remoteOptions()...)
	if err != nil {
		return nil, err
	}
	lister, err := puller.Lister(ctx, s.repo)
	if err != nil {
		return nil, err
	}
	var tags []string
	seen := map[string]bool{}
	for lister.HasNext() {
		page, err := lister.Next(ctx)
		if err != nil {
			return nil, err
		}
		tags = append(tags, page.Tags...)
		if len(tags) > s.opts.MaxTags {
			return nil, &boundError{max: s.opts.MaxTags}
		}
		if err := checkLoop(seen, page.Next); err != nil {
			return nil, err
		}
	}
	return tags, nil
}

// checkLoop fails when the registry links to a page it already served.
func checkLoop(seen map[string]bool, next string) error {
	if next == "" {
		return nil
	}
	if seen[next] {
		return errors.New("registry pagination loops (a next page link repeats)")
	}
	seen[next] = true
	return nil
}

// filter drops duplicate, malformed and excluded tags and sorts the rest.
func (s *scanner) filter(raw []string) Result {
	r := Result{CanonicalName: s.repo.Name(), Tags: []string{}}
	seen := make(map[string]bool, len(raw))
	for _, t := range raw {
		if seen[t] {
			continue
		}
		seen[t] = true
		switch {
		case !s.validTag(t):
			r.Dropped++
		case s.excluded(t):
			r.Excluded++
		default:
			r.Tags = append(r.Tags, t)
		}
	}
	sort.Strings(r.Tags)
	return r
}

func (s *scanner) validTag(t string) bool {
	return len(t) <= s.opts.MaxTagLength && tagPattern.MatchString(t)
}

func (s *scanner) excluded(t string) bool {
	for _, re := range s.exclusions {
		if re.MatchString(t) {
			return true
		}
	}
	return false
}

// boundError reports that the registry listed more than MaxTags tags.
type boundError struct{ max int }

func (e *boundError) Error() string {
	return fmt.Sprintf("registry listed more than %d tags (the MaxTags bound)", e.max)
}

// scanError is a scan failure whose message names the image and has
// credentials redacted; it wraps the underlying errors.
type scanError struct {
	msg  string
	errs []error
}

func (e *scanError) Error() string   { return e.msg }
func (e *scanError) Unwrap() []error { return e.errs }

// fail turns a listing error into a scanError.
func (s *scanner) fail(ctx context.Context, err error) error {
	var tooLarge *httpcap.TooLargeError
	if errors.As(err, &tooLarge) {
		err = &bodyTooLargeError{limit: tooLarge.Limit, err: err}
	}
	errs := []error{err}
	if ctx.Err() != nil {
		errs = append(errs, ctx.Err())
	}
	msg := fmt.Sprintf("scanning image %q: %s", s.image, s.describe(ctx, err))
	return &scanError{msg: redactpkg.Line(redact(msg, s.secrets), 300), errs: errs} // a one-line reason, never the reply
}

// describe says what failed.
func (s *scanner) describe(ctx context.Context, err error) string {
	var tooLarge *bodyTooLargeError
	var bound *boundError
	var status *transport.Error
	var netErr net.Error
	switch {
	case ctx.Err() != nil:
		return s.contextDetail(ctx)
	case errors.As(err, &tooLarge), errors.As(err, &bound):
		return err.Error()
	case errors.As(err, &status):
		return statusDetail(status)
	case isMalformed(err):
		return "malformed tag list response: " + err.Error()
	case errors.As(err, &netErr):
		return "registry unreachable: " + err.Error()
	default:
		return "listing tags: " + err.Error()
	}
}

func (s *scanner) contextDetail(ctx context.Context) string {
	if errors.Is(context.Cause(ctx), errScanTimeout) {
		return fmt.Sprintf("timed out after %s", s.opts.Timeout)
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "context deadline exceeded"
	}
	return "canceled"
}

func statusDetail(e *transport.Error) string {
	code := e.StatusCode
	switch {
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return fmt.Sprintf("registry denied access (HTTP %d): %s", code, e.Error())
	case code == http.StatusNotFound:
		return fmt.Sprintf("repository not found (HTTP %d): %s", code, e.Error())
	case code >= 500:
		return fmt.Sprintf("registry failed (HTTP %d): %s", code, e.Error())
	default:
		return fmt.Sprintf("unexpected registry response (HTTP %d): %s", code, e.Error())
	}
}

func isMalformed(err error) bool {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	return errors.As(err, &syntax) || errors.As(err, &typ) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// redact replaces each secret in msg. Very short secrets are left alone so
// as not to mangle the message.
func redact(msg string, secrets []string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
		}
	}
	return msg
}

// bodyTooLargeError is an *httpcap.TooLargeError in the scan's words; it
// wraps the error the body cap produced.
type bodyTooLargeError struct {
	limit int64
	err   error
}

func (e *bodyTooLargeError) Error() string {
	if e.limit%(1<<20) == 0 {
		return fmt.Sprintf("registry response body exceeds the %d MiB cap", e.limit>>20)
	}
	return fmt.Sprintf("registry response body exceeds the %d bytes cap", e.limit)
}

func (e *bodyTooLargeError) Unwrap() error { return e.err }

// dockerConfig is the part of a .dockerconfigjson used here. authn.AuthConfig
// decodes the "auth" field (base64 of user:pass) into Username and Password.
type dockerConfig struct {
	Auths map[string]authn.AuthConfig `json:"auths"`
}

// parseDockerConfig returns a keychain over the config's credentials, keyed
// by normalised registry host, and the secret strings it holds. When two
// keys name the same host, the first in sorted order wins.
func parseDockerConfig(data []byte) (authn.Keychain, []string, error) {
	var cfg dockerConfig
	if err := json.Unmarshal(data, &cfg); err != nil {
		return nil, nil, fmt.Errorf("parsing DockerConfigJSON: %w", err)
	}
	keys := make([]string, 0, len(cfg.Auths))
	for k := range cfg.Auths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	kc := staticKeychain{}
	var secrets []string
	for _, k := range keys {
		host := normaliseHost(k)
		if _, dup := kc[host]; dup || host == "" {
			continue
		}
		a := cfg.Auths[k]
		kc[host] = a
		secrets = append(secrets, a.Password, a.Auth, a.IdentityToken, a.RegistryToken)
	}
	return kc, secrets, nil
}

// normaliseHost turns a docker config key ("https://host:port/v1/",
// "host:port") into the registry host go-containerregistry uses.
func normaliseHost(key string) string {
	h := strings.ToLower(strings.TrimSpace(key))
	h = strings.TrimPrefix(strings.TrimPrefix(h, "https://"), "http://")
	if i := strings.IndexByte(h, '/'); i >= 0 {
		h = h[:i]
	}
	if h == "" {
		return ""
	}
	if reg, err := name.NewRegistry(h); err == nil {
		return reg.RegistryStr()
	}
	return h
}

// staticKeychain resolves credentials by registry host; unknown hosts are
// anonymous.
type staticKeychain map[string]authn.AuthConfig

// Resolve implements authn.Keychain.
func (k staticKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	if cfg, ok := k[normaliseHost(r.RegistryStr())]; ok {
		return authn.FromConfig(cfg), nil
	}
	return authn.Anonymous, nil
}
