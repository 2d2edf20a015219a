package chartrepo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/ferrycd/ferry/internal/netguard"
)

// Defaults for the zero values of Options.
const (
	// DefaultPollInterval is Argo CD's repository cache expiry (3m).
	DefaultPollInterval  = 3 * time.Minute
	DefaultMaxIndexBytes = 32 << 20
	DefaultIndexTimeout  = 60 * time.Second
	DefaultMaxChartBytes = 16 << 20
	DefaultTimeout       = 60 * time.Second
	// DefaultArchiveCacheMaxBytes holds thousands of ordinary charts (tens
	// of KiB each), or four of the largest allowed.
	DefaultArchiveCacheMaxBytes = 64 << 20
)

var (
	// ErrRefused is wrapped by the error for a repository Ferry may not
	// read: a scheme other than https, http and oci, plain HTTP to a host
	// that is not loopback, a bare host/path without enableOCI, or an
	// address the network policy refuses. Retrying cannot help until the
	// spec changes. It is netguard.ErrRefused (and so source.ErrRefused):
	// one sentinel for "refused", whatever read it.
	ErrRefused = netguard.ErrRefused
	// ErrNotFound is wrapped when the repository has no such chart, no
	// version matching the constraint, or no such version.
	ErrNotFound = errors.New("not found")
	// ErrDigestMismatch is wrapped when an archive's sha256 differs from the
	// digest the index or the OCI manifest gives for it.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTooLarge is wrapped when a chart archive is over MaxChartBytes.
	ErrTooLarge = errors.New("over the size cap")
)

// Credentials for one chart repository, as found in an Argo CD repository
// Secret (see source.RepositorySecrets.HelmCredentials).
type Credentials struct {
	// Username and Password authenticate with HTTP basic auth (the index,
	// chart downloads on the index's host, and OCI registries).
	Username, Password string
	// InsecureSkipTLS skips TLS certificate verification (Secret key
	// insecure: "true").
	InsecureSkipTLS bool
	// EnableOCI says that a repoURL without a scheme (host/path) is an OCI
	// registry (Secret key enableOCI: "true", as in Argo CD).
	EnableOCI bool
	// PassCredentials sends the credentials to chart URLs on another host
	// than the index's (Argo CD's spec.source.helm.passCredentials). It is
	// off by default: an index may point anywhere. Callers set it per
	// Application with WithPassCredentials.
	PassCredentials bool
}

// CredentialsFunc looks up credentials for a repository, given its
// normalized URL (see NormalizeURL) and the AppProject reading it ("" for
// none: then only credentials scoped to no project may be returned). It
// returns nil, nil for anonymous access. It is called on every Resolve and
// Fetch, so a rotated Secret takes effect at once.
type CredentialsFunc func(ctx context.Context, repoURL, project string) (*Credentials, error)

// Options configures Repos. Zero values select the defaults.
type Options struct {
	// PollInterval bounds index traffic: an index (or an OCI tag list) is
	// fetched at most once per interval per repository and credentials
	// (default 3m, as Argo CD's repository cache). A forced Resolve
	// fetches anyway.
	PollInterval time.Duration
	// MaxIndexBytes caps one index.yaml (and every other response body but
	// a chart archive's); default 32 MiB.
	MaxIndexBytes int64
	// IndexTimeout bounds one index download or OCI tag listing (default
	// 60s). With MaxIndexBytes it stops an index that never ends, at
	// whichever comes first.
	IndexTimeout time.Duration
	// MaxChartBytes caps one chart archive (default 16 MiB).
	MaxChartBytes int64
	// Timeout bounds one chart download (default 60s).
	Timeout time.Duration
	// ArchiveCacheMaxBytes bounds the archives kept in memory, least
	// recently used first out (default 64 MiB). An archive larger than the
	// budget is served but not kept.
	ArchiveCacheMaxBytes int64
	// Credentials looks up credentials per repository; nil means anonymous.
	Credentials CredentialsFunc
	// Project returns the AppProject a call acts for, passed to
	// Credentials; the controller gives source.ProjectFrom, so the project
	// travels in the context as it does for Git. Nil means no project:
	// credentials scoped to a project are never used.
	Project func(ctx context.Context) string
	// Net says which addresses repositories and registries may be at
	// (link-local and cloud metadata addresses are refused at dial time).
	Net netguard.Policy
	// AllowInsecureHTTP allows plain http:// repositories and plain-HTTP OCI
	// registries on hosts other than loopback (always allowed).
	AllowInsecureHTTP bool
	// OnFetch, when set, is told of every download: kind is "index",
	// "tags" (an OCI tag list) or "chart", repo the normalized URL.
	OnFetch func(kind, repo string, d time.Duration)
}

// Kinds of download reported to Options.OnFetch.
const (
	FetchIndex = "index"
	FetchTags  = "tags"
	FetchChart = "chart"
)

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxIndexBytes <= 0 {
		o.MaxIndexBytes = DefaultMaxIndexBytes
	}
	if o.IndexTimeout <= 0 {
		o.IndexTimeout = DefaultIndexTimeout
	}
	if o.MaxChartBytes <= 0 {
		o.MaxChartBytes = DefaultMaxChartBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ArchiveCacheMaxBytes <= 0 {
		o.ArchiveCacheMaxBytes = DefaultArchiveCacheMaxBytes
	}
	return o
}

// Archive is a chart archive (a .tgz), as the renderer loads it.
type Archive struct {
	// Data is the archive. It is shared by every caller and the cache:
	// never modify it.
	Data []byte
	// Digest is the archive's sha256, as "sha256:<hex>".
	Digest string
}

// Repos is Ferry's one way to find and fetch Helm charts: from Helm
// repositories over HTTP(S) and from OCI registries. It keeps the last
// index (or tag list) of each repository for PollInterval, shared by every
// caller, and the archives in an LRU bounded in bytes. A Repos is safe for
// concurrent use; make one per process.
type Repos struct {
	opts Options
	now  func() time.Time // the clock; tests replace it

	httpSecure, httpInsecure *http.Client      // Helm repositories; InsecureSkipTLS picks the second
	ociSecure, ociInsecure   http.RoundTripper // OCI registries, the same way

	mu       sync.Mutex
	catalogs map[string]*catalogEntry // by location.key (and chart, for OCI)
	// refused remembers archives that failed for what they are (too
	// large, not matching their digest), by archive key: a version's
	// archive does not change, so it is not downloaded again for every
	// Application and every retry, only after a poll interval.
	refused map[string]refusedArchive

	archives    *archiveLRU
	downloading singleflight.Group
}

// New returns a Repos configured by opts.
func New(opts Options) *Repos {
	opts = opts.withDefaults()
	r := &Repos{
		opts:     opts,
		now:      time.Now,
		catalogs: map[string]*catalogEntry{},
		archives: newArchiveLRU(opts.ArchiveCacheMaxBytes),
	}
	r.httpSecure = r.newHTTPClient(false)
	r.httpInsecure = r.newHTTPClient(true)
	r.ociSecure = r.ociTransport(false)
	r.ociInsecure = r.ociTransport(true)
	return r
}

type passKey struct{}

// WithPassCredentials says whether Fetch calls made with the returned
// context send the repository's credentials to chart URLs on other hosts
// than the index's (the Application's spec.source.helm.passCredentials).
func WithPassCredentials(ctx context.Context, pass bool) context.Context {
	return context.WithValue(ctx, passKey{}, pass)
}

func passFrom(ctx context.Context) bool {
	p, _ := ctx.Value(passKey{}).(bool)
	return p
}

// Resolve returns the newest version of chart matching constraint (an
// exact version is a constraint too; "" means the newest), following
// Helm's semantics: a version equal to the constraint wins, prereleases
// match only a constraint that names one, and the newest match by semver
// wins. The index (or, for OCI, the chart's tag list) is fetched once per
// PollInterval per repository and credentials, whatever the number of
// callers; force fetches it now (ResolveSince with the time of the call).
//
// A refresh that fails keeps serving the last good index until it is two
// intervals old, so a repository that blinks does not fail every
// Application reading it; the failed attempt is not repeated before the
// next interval (a forced Resolve repeats it, and returns its error).
func (r *Repos) Resolve(ctx context.Context, repoURL, chart, constraint string, force bool) (string, error) {
	var since time.Time
	if force {
		since = r.now()
	}
	return r.ResolveSince(ctx, repoURL, chart, constraint, since)
}

// ResolveSince is Resolve from an index (or tag list) whose download
// started after since (a zero since: Resolve's poll interval), as
// source.Cache.ResolveSince is for Git: a refresh asked for at since is
// answered by any download started after it, so a burst of refreshes of
// the Applications of one repository shares one download. since is on the
// clock of Repos (time.Now, unless a test replaced it).
func (r *Repos) ResolveSince(ctx context.Context, repoURL, chart, constraint string, since time.Time) (string, error) {
	loc, err := r.locate(ctx, repoURL)
	if err != nil {
		return "", fmt.Errorf("chart %s: %w", chart, err)
	}
	if err := checkChartName(chart); err != nil {
		return "", fmt.Errorf("chart %q in %s: %w", chart, loc.norm, err)
	}
	c, err := newConstraint(constraint)
	if err != nil {
		return "", fmt.Errorf("%w: chart %s: %q is not a version or semver range: %v", ErrRefused, chart, constraint, err)
	}
	cat, err := r.catalog(ctx, loc, chart, since)
	if err != nil {
		return "", loc.scrub(fmt.Errorf("chart %s (%q): %w", chart, constraint, err))
	}
	versions, ok := cat.charts[chart]
	if !ok {
		return "", notFound("chart %s: not found in %s", chart, loc.norm)
	}
	v, ok := versions.pick(c)
	if !ok {
		return "", notFound("chart %s: no version matches %q in %s (newest: %s)", chart, constraint, loc.norm, versions.newest())
	}
	return v.version, nil
}

// Fetch returns the archive of chart at version (exactly as Resolve
// returned it). From a Helm repository, the chart URL comes from the index
// (relative URLs resolved against the repository URL) and the archive is
// verified against the index's digest when it has one; from an OCI
// registry, the manifest's chart layer is pulled and verified against its
// digest. Archives are kept in memory by repository, credentials, chart and
// version, in an LRU bounded in bytes; concurrent fetches of one archive
// share one download.
func (r *Repos) Fetch(ctx context.Context, repoURL, chart, version string) (*Archive, error) {
	loc, err := r.locate(ctx, repoURL)
	if err != nil {
		return nil, fmt.Errorf("chart %s %s: %w", chart, version, err)
	}
	if err := checkChartName(chart); err != nil {
		return nil, fmt.Errorf("chart %q in %s: %w", chart, loc.norm, err)
	}
	if version == "" {
		return nil, fmt.Errorf("chart %s in %s: no version given", chart, loc.norm)
	}
	key := loc.key + "\x00" + chart + "\x00" + version
	after := fetchedAfter(ctx)
	if a, ok := r.archives.get(key, after); ok {
		return a, nil
	}
	if err := r.refusedBefore(key, after); err != nil {
		return nil, err
	}
	// A caller asking for a download after some time (a hard refresh)
	// shares only downloads of its kind, which never take a kept archive:
	// one started before its time is not enough, and then the next one,
	// which starts after this call, is.
	flight := key
	if !after.IsZero() {
		flight += "\x00fresh"
	}
	for attempt := 0; ; attempt++ {
		d, err := r.download(ctx, loc, flight, key, chart, version, after.IsZero())
		if err != nil {
			return nil, err
		}
		if d.at.After(after) || attempt > 0 {
			return d.a, nil
		}
	}
}

// downloaded is an archive and when its download started.
type downloaded struct {
	a  *Archive
	at time.Time
}

// download fetches the archive kept under key, in one flight per name
// flight; kept allows the flight to return an archive kept meanwhile.
func (r *Repos) download(ctx context.Context, loc *location, flight, key, chart, version string, kept bool) (downloaded, error) {
	ch := r.downloading.DoChan(flight, func() (any, error) {
		// A download that ended between the caller's lookup and this
		// flight has kept its archive: one download per version, not two.
		if kept {
			if a, at, ok := r.archives.lookup(key); ok {
				return downloaded{a, at}, nil
			}
		}
		// Detached from the first caller's context, so the callers who
		// join do not fail because it gave up; bounded by Timeout.
		dctx, cancel := context.WithTimeoutCause(context.WithoutCancel(ctx), r.opts.Timeout, errChartTimeout)
		defer cancel()
		started := r.now()
		var a *Archive
		var err error
		if loc.oci {
			a, err = r.fetchOCI(dctx, loc, chart, version)
		} else {
			a, err = r.fetchHTTP(dctx, loc, chart, version)
		}
		if err != nil {
			err = loc.scrub(fmt.Errorf("chart %s %s from %s: %w", chart, version, loc.norm, err))
			if errors.Is(err, ErrTooLarge) || errors.Is(err, ErrDigestMismatch) {
				r.refuse(key, err)
			}
			return nil, err
		}
		r.archives.add(key, a, started)
		return downloaded{a, started}, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return downloaded{}, res.Err
		}
		return res.Val.(downloaded), nil
	case <-ctx.Done():
		return downloaded{}, fmt.Errorf("chart %s %s from %s: %w", chart, version, loc.norm, ctx.Err())
	}
}

type fetchedAfterKey struct{}

// WithFetchedAfter asks Fetch calls made with the returned context for an
// archive whose download started after t, and to ignore a failure
// remembered from before t: a hard refresh asked for at t, which must see a
// chart republished under the same version. t is on the clock of Repos
// (time.Now, unless a test replaced it).
func WithFetchedAfter(ctx context.Context, t time.Time) context.Context {
	return context.WithValue(ctx, fetchedAfterKey{}, t)
}

func fetchedAfter(ctx context.Context) time.Time {
	t, _ := ctx.Value(fetchedAfterKey{}).(time.Time)
	return t
}

// notFoundError is an error matching ErrNotFound whose message says it all.
type notFoundError struct{ msg string }

// refusedArchive is an archive's failure and when it happened.
type refusedArchive struct {
	err error
	at  time.Time
}

// refuse remembers key's failure for a poll interval.
func (r *Repos) refuse(key string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.refused == nil {
		r.refused = map[string]refusedArchive{}
	}
	now := r.now()
	for k, f := range r.refused { // the map holds failures of the last interval only
		if now.Sub(f.at) >= r.opts.PollInterval {
			delete(r.refused, k)
		}
	}
	r.refused[key] = refusedArchive{err: err, at: now}
}

// refusedBefore is key's failure when it is less than a poll interval old
// and happened after after.
func (r *Repos) refusedBefore(key string, after time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := r.refused[key]; ok && r.now().Sub(f.at) < r.opts.PollInterval && f.at.After(after) {
		return f.err
	}
	return nil
}

func (e *notFoundError) Error() string { return e.msg }

// Is makes the error match ErrNotFound.
func (e *notFoundError) Is(target error) bool { return target == ErrNotFound }

func notFound(format string, args ...any) error {
	return &notFoundError{msg: fmt.Sprintf(format, args...)}
}

// report tells Options.OnFetch of a download.
func (r *Repos) report(kind, repo string, start time.Time) {
	if r.opts.OnFetch != nil {
		r.opts.OnFetch(kind, repo, time.Since(start))
	}
}
