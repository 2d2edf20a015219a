package source

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"golang.org/x/sync/singleflight"

	"github.com/ferrycd/ferry/internal/netguard"
)

// Defaults for the zero values of Options.
const (
	DefaultPollInterval     = time.Minute
	DefaultMaxSnapshotBytes = 256 << 20
	DefaultMaxFiles         = 100_000
	// DefaultSnapshotCacheMaxBytes is twice DefaultMaxSnapshotBytes: the
	// largest revision allowed fits with room to spare, and a repository
	// of manifests (a few MiB) leaves room for a hundred others.
	DefaultSnapshotCacheMaxBytes = 512 << 20
	// DefaultSnapshotCacheSize is high: the byte budget is what bounds
	// memory, the count only bounds bookkeeping.
	DefaultSnapshotCacheSize = 1024
	DefaultTimeout           = 5 * time.Minute
)

// Credentials for one repository URL, as found in an Argo CD repository
// Secret (url, username, password, sshPrivateKey, insecure).
type Credentials struct {
	// Username and Password authenticate over http(s) (basic auth). A token
	// alone goes in Password; the user name then defaults to "git", since
	// Git hosts accept any user name with a token.
	Username, Password string
	// SSHPrivateKey is a PEM-encoded private key for ssh URLs.
	SSHPrivateKey []byte
	// InsecureSkipTLS skips TLS certificate verification (insecure: true).
	InsecureSkipTLS bool
	// InsecureIgnoreHostKey skips ssh host-key checking. Without it, host keys
	// are checked against known_hosts (Options.KnownHostsFiles).
	InsecureIgnoreHostKey bool
}

// CredentialsFunc looks up credentials for a repository, given its normalized
// URL (see NormalizeURL) and the AppProject reading it ("" for none: then
// only credentials scoped to no project may be returned). It returns nil,
// nil for anonymous access. It is called before every listing and fetch, so
// rotated Secrets take effect on the next poll.
type CredentialsFunc func(ctx context.Context, repoURL, project string) (*Credentials, error)

// ScopeFunc reports whether a project reads a repository with credentials
// scoped to that project (Argo CD's project-scoped repository Secrets).
// Such a project gets a copy of the repository of its own, fetched with its
// own credentials, which no other project reads.
type ScopeFunc func(ctx context.Context, repoURL, project string) (bool, error)

type projectKey struct{}

// WithProject says which AppProject the Cache calls made with the returned
// context act for, so that a project-scoped credential serves that project
// alone. Without it a call acts for no project: credentials scoped to a
// project are never used, which is the safe failure.
func WithProject(ctx context.Context, project string) context.Context {
	return context.WithValue(ctx, projectKey{}, project)
}

// ProjectFrom returns the project WithProject put in ctx, or "".
func ProjectFrom(ctx context.Context) string {
	p, _ := ctx.Value(projectKey{}).(string)
	return p
}

// Options configures a Cache. Zero values select the defaults.
type Options struct {
	// Dir is the on-disk cache root: one bare repository per normalized URL,
	// in a directory named by the hash of that URL. Required.
	Dir string
	// PollInterval bounds remote traffic: at most one ref listing per
	// repository per interval (default 1m). A forced Resolve lists anyway.
	PollInterval time.Duration
	// Credentials looks up credentials per repository; nil means anonymous.
	Credentials CredentialsFunc
	// Scoped, when set, tells which projects read a repository with
	// credentials of their own (see ScopeFunc); nil means none does.
	Scoped ScopeFunc
	// MaxSnapshotBytes bounds the total size of the files of one revision
	// (default 256 MiB).
	MaxSnapshotBytes int64
	// MaxFiles bounds the number of entries (files, directories, symlinks)
	// of one revision (default 100,000).
	MaxFiles int
	// SnapshotCacheMaxBytes bounds the revision snapshots kept in memory by
	// the size of their files (plus a small per-file overhead), least
	// recently used first out (default 512 MiB). A snapshot larger than
	// the whole budget is served but not kept.
	SnapshotCacheMaxBytes int64
	// SnapshotCacheSize is the number of revision snapshots kept in memory,
	// least recently used first out (default 1,024: SnapshotCacheMaxBytes
	// is the bound that matters).
	SnapshotCacheSize int
	// Timeout bounds one listing or fetch (default 5m). It runs detached
	// from the caller's context, so one impatient caller does not fail the
	// operation for the others sharing it.
	Timeout time.Duration
	// KnownHostsFiles are the known_hosts files used to check ssh host keys.
	// Empty means $SSH_KNOWN_HOSTS, else ~/.ssh/known_hosts and
	// /etc/ssh/ssh_known_hosts.
	KnownHostsFiles []string
	// AllowLocal lets repository URLs name the controller's own disk
	// (file:// URLs and paths). Off by default: a tenant who can write an
	// Application would otherwise read any repository on the controller's
	// disk, its cache of other tenants' private repositories included.
	AllowLocal bool
	// Net says which addresses remote repositories may be at (link-local
	// and cloud metadata addresses are refused by default).
	Net netguard.Policy
	// OnFetch, when set, is told of every fetch (and first clone) with the
	// repository's normalized URL and how long it took, for metrics.
	OnFetch func(repo string, d time.Duration)
}

func (o Options) withDefaults() Options {
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.MaxSnapshotBytes <= 0 {
		o.MaxSnapshotBytes = DefaultMaxSnapshotBytes
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = DefaultMaxFiles
	}
	if o.SnapshotCacheSize <= 0 {
		o.SnapshotCacheSize = DefaultSnapshotCacheSize
	}
	if o.SnapshotCacheMaxBytes <= 0 {
		o.SnapshotCacheMaxBytes = DefaultSnapshotCacheMaxBytes
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}

// RepoStats counts the operations done for one repository.
type RepoStats struct {
	// Clones counts fetches into an empty cache (the first download).
	Clones int64
	// RefListings counts ref listings (ls-remote) attempted.
	RefListings int64
	// Fetches counts incremental fetches into a cache that had refs.
	Fetches int64
	// Snapshots counts snapshots built (cache hits are not counted).
	Snapshots int64
}

// Cache is Ferry's one way to read Git repositories. It keeps one bare
// repository per repository URL on disk, updates it incrementally at most once
// per poll interval, and serves each revision's files as an in-memory fs.FS
// built once and shared by every caller. A Cache is safe for concurrent use.
type Cache struct {
	opts Options
	now  func() time.Time // the clock; tests replace it

	mu    sync.Mutex
	repos map[string]*repo // by normalized URL

	snapshots *lru
	building  singleflight.Group
}

// NewCache returns a Cache storing its repositories under opts.Dir.
func NewCache(opts Options) (*Cache, error) {
	if opts.Dir == "" {
		return nil, errors.New("source cache: Options.Dir is required")
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil { // private repositories live here
		return nil, fmt.Errorf("source cache: create %s: %w", opts.Dir, err)
	}
	opts = opts.withDefaults()
	return &Cache{
		opts:      opts,
		now:       time.Now,
		repos:     map[string]*repo{},
		snapshots: newLRU(opts.SnapshotCacheSize, opts.SnapshotCacheMaxBytes),
	}, nil
}

// Stats returns the operation counts per normalized repository URL.
func (c *Cache) Stats() map[string]RepoStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]RepoStats, len(c.repos))
	for key, r := range c.repos {
		out[key] = RepoStats{
			Clones:      r.stats.clones.Load(),
			RefListings: r.stats.listings.Load(),
			Fetches:     r.stats.fetches.Load(),
			Snapshots:   r.stats.snapshots.Load(),
		}
	}
	return out
}

// repo is the state of one cached repository.
type repo struct {
	c       *Cache
	key     string // cache key, Stats key, name in errors: the normalized URL, and the project of a project's own copy
	norm    string // normalized URL
	project string // the project whose own copy this is; "" for the shared one
	url     string // URL given to the transport (may carry user information)
	dir     string

	stats struct {
		clones, listings, fetches, snapshots atomic.Int64
	}

	// storeMu serializes all access to the on-disk repository: go-git's
	// storage is not safe for concurrent use, not even for reads.
	storeMu sync.Mutex
	git     *git.Repository // nil until opened or created
	objects sharedObjects   // trees and blobs of live snapshots

	// mu guards the last listing, the refresh in flight, and the memo of
	// peeled hashes.
	mu       sync.Mutex
	refs     *refSet   // last successful listing
	listedAt time.Time // start of the last listing, successful or not
	listErr  error     // error of the last listing, if it failed
	flight   *flight
	peeled   map[plumbing.Hash]plumbing.Hash // object to the commit it names
}

// repo returns the state for a repository URL as the context's project
// reads it, creating it on first use: the shared copy, or the project's own
// when it has credentials scoped to it.
func (c *Cache) repo(ctx context.Context, rawURL string) (*repo, error) {
	norm, err := NormalizeURL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := RefuseLocal(norm, c.opts.AllowLocal); err != nil {
		return nil, err
	}
	key, project := norm, ""
	if p := ProjectFrom(ctx); p != "" && c.opts.Scoped != nil {
		scoped, err := c.opts.Scoped(ctx, norm, p)
		if err != nil {
			return nil, fmt.Errorf("look up credentials of %s for project %s: %w", norm, p, err)
		}
		if scoped {
			key, project = norm+"#project="+p, p
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.repos[key]; ok {
		return r, nil
	}
	transportURL, err := transportURL(rawURL)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256([]byte(key))
	r := &repo{
		c:       c,
		key:     key,
		norm:    norm,
		project: project,
		url:     transportURL,
		dir:     filepath.Join(c.opts.Dir, hex.EncodeToString(sum[:16])),
	}
	c.repos[key] = r
	return r, nil
}

// transportURL is the URL given to go-git: the caller's, with local paths
// made absolute once (independent of later changes of directory).
func transportURL(rawURL string) (string, error) {
	s := strings.TrimSpace(rawURL)
	if strings.Contains(s, "://") || isSCPLike(s) {
		return s, nil
	}
	abs, err := filepath.Abs(s)
	if err != nil {
		return "", fmt.Errorf("invalid repository path %q: %w", s, err)
	}
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String(), nil
}
