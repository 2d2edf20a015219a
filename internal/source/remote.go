package source

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ferrycd/ferry/internal/redact"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"github.com/go-git/go-git/v5/storage/memory"
	gossh "golang.org/x/crypto/ssh"
)

// objectCacheSize bounds go-git's decoded-object cache per repository. Blobs
// are read once per snapshot, so a small cache (for delta bases) suffices.
const objectCacheSize = 16 * cache.MiByte

// The refspecs of the cache: branches and tags, mirrored under their own
// names. Other refs (pull requests, notes) are fetched one by one on demand.
// remoteReasonMax bounds what a Git server's reply contributes to an error:
// go-git copies a 401/403/404 response body whole into its error.
const remoteReasonMax = 300

var mirrorSpecs = []config.RefSpec{
	"+refs/heads/*:refs/heads/*",
	"+refs/tags/*:refs/tags/*",
}

// remoteAuth is how to authenticate to a repository, and what must never
// appear in an error about it.
type remoteAuth struct {
	method   transport.AuthMethod
	insecure bool
	secrets  []string
}

// auth builds the transport options for r from Options.Credentials.
// Every remote operation starts here, so this is also where the host is
// checked against the network policy (after DNS, before any connection).
func (r *repo) auth(ctx context.Context) (remoteAuth, error) {
	a := remoteAuth{secrets: secretsOf(r.url)}
	if err := r.c.opts.Net.CheckURL(ctx, r.norm); err != nil {
		return a, err
	}
	if r.c.opts.Credentials == nil {
		return a, nil
	}
	creds, err := r.c.opts.Credentials(ctx, r.norm, r.project)
	if err != nil {
		return a, fmt.Errorf("look up credentials: %w", err)
	}
	if creds == nil {
		return a, nil
	}
	a.secrets = append(a.secrets, secretForms(creds.Password)...)
	a.insecure = creds.InsecureSkipTLS
	switch scheme, _, _ := strings.Cut(r.norm, "://"); scheme {
	case "http", "https":
		if creds.Username != "" || creds.Password != "" {
			user := creds.Username
			if user == "" {
				user = "git"
			}
			a.method = &githttp.BasicAuth{Username: user, Password: creds.Password}
		}
	case "ssh":
		m, err := r.sshAuth(creds)
		if err != nil {
			return a, err
		}
		a.method = m
	}
	return a, nil
}

// sshAuth returns the ssh authentication for creds: the private key if there
// is one, else the password, else nil (go-git then tries the ssh agent).
func (r *repo) sshAuth(creds *Credentials) (transport.AuthMethod, error) {
	user := creds.Username
	if ep, err := transport.NewEndpoint(r.url); err == nil && ep.User != "" {
		user = ep.User
	}
	if user == "" {
		user = "git"
	}
	var hostKeys gossh.HostKeyCallback
	switch {
	case creds.InsecureIgnoreHostKey:
		hostKeys = gossh.InsecureIgnoreHostKey()
	case len(r.c.opts.KnownHostsFiles) > 0:
		cb, err := gitssh.NewKnownHostsCallback(r.c.opts.KnownHostsFiles...)
		if err != nil {
			return nil, fmt.Errorf("read known hosts: %w", err)
		}
		hostKeys = cb
	}
	switch {
	case len(creds.SSHPrivateKey) > 0:
		keys, err := gitssh.NewPublicKeys(user, creds.SSHPrivateKey, "")
		if err != nil {
			// The parser's message names the key type at most, never its bytes.
			return nil, fmt.Errorf("parse ssh private key: %w", err)
		}
		keys.HostKeyCallback = hostKeys
		return keys, nil
	case creds.Password != "":
		m := &gitssh.Password{User: user, Password: creds.Password}
		m.HostKeyCallback = hostKeys
		return m, nil
	}
	return nil, nil
}

// open opens the bare repository of r, creating it if needed. The caller
// holds storeMu.
func (r *repo) open() (*git.Repository, error) {
	if r.git != nil {
		return r.git, nil
	}
	g, err := r.openDir()
	if err != nil && !errors.Is(err, git.ErrRepositoryNotExists) {
		// A damaged cache (say, an interrupted first clone) holds nothing the
		// remote does not: start it again.
		if rmErr := os.RemoveAll(r.dir); rmErr != nil {
			return nil, fmt.Errorf("reset cache %s: %w", r.dir, rmErr)
		}
		g, err = r.openDir()
	}
	if errors.Is(err, git.ErrRepositoryNotExists) {
		g, err = git.Init(r.storage(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("open cache %s: %w", r.dir, err)
	}
	r.git = g
	return g, nil
}

func (r *repo) openDir() (*git.Repository, error) {
	if _, err := os.Stat(r.dir); errors.Is(err, os.ErrNotExist) {
		return nil, git.ErrRepositoryNotExists
	}
	return git.Open(r.storage(), nil)
}

func (r *repo) storage() *filesystem.Storage {
	return filesystem.NewStorage(osfs.New(r.dir), cache.NewObjectLRU(objectCacheSize))
}

// list lists the remote's refs. It does not touch the cache, so it runs
// without storeMu.
func (r *repo) list(ctx context.Context, a remoteAuth) (*refSet, error) {
	r.stats.listings.Add(1)
	remote := git.NewRemote(memory.NewStorage(), &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	refs, err := remote.ListContext(ctx, &git.ListOptions{
		Auth:            a.method,
		InsecureSkipTLS: a.insecure,
		PeelingOption:   git.AppendPeeled,
	})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return newRefSet(nil), nil
	}
	if err != nil {
		return nil, redact.LineError(redactSecrets(fmt.Errorf("list refs: %w", err), a.secrets), remoteReasonMax)
	}
	return newRefSet(refs), nil
}

// fetch fetches specs into the cache; the caller holds storeMu. A fetch into a
// cache without refs counts as a clone.
func (r *repo) fetch(ctx context.Context, a remoteAuth, specs []config.RefSpec, prune bool) error {
	g, err := r.open()
	if err != nil {
		return err
	}
	fresh, err := hasNoRefs(g)
	if err != nil {
		return fmt.Errorf("read cache %s: %w", r.dir, err)
	}
	if fresh {
		r.stats.clones.Add(1)
	} else {
		r.stats.fetches.Add(1)
	}
	if on := r.c.opts.OnFetch; on != nil {
		defer func(start time.Time) { on(r.key, time.Since(start)) }(time.Now())
	}
	remote := git.NewRemote(g.Storer, &config.RemoteConfig{Name: "origin", URLs: []string{r.url}})
	err = remote.FetchContext(ctx, &git.FetchOptions{
		RefSpecs:        specs,
		Auth:            a.method,
		InsecureSkipTLS: a.insecure,
		Tags:            git.NoTags, // tags come through mirrorSpecs
		Force:           true,
		Prune:           prune,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return redact.LineError(redactSecrets(fmt.Errorf("fetch: %w", err), a.secrets), remoteReasonMax)
	}
	return nil
}

func hasNoRefs(g *git.Repository) (bool, error) {
	iter, err := g.Storer.IterReferences()
	if err != nil {
		return false, err
	}
	defer iter.Close()
	none := true
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if strings.HasPrefix(ref.Name().String(), "refs/") {
			none = false
			return errStopIter
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopIter) {
		return false, err
	}
	return none, nil
}

var errStopIter = errors.New("stop")

// sync brings the cache up to date with a listing: it fetches branches and
// tags if any of their objects is missing (a ref moved, or a first clone), and
// points the cache's HEAD where the remote's does. The caller holds storeMu.
func (r *repo) sync(ctx context.Context, a remoteAuth, refs *refSet) error {
	g, err := r.open()
	if err != nil {
		return err
	}
	if missingObjects(g, refs) {
		if err := r.fetch(ctx, a, mirrorSpecs, true); err != nil {
			return err
		}
		if missingObjects(g, refs) {
			// The remote moved between listing and fetch (a force push):
			// the listing is stale.
			return errRefsMoved
		}
	}
	if refs.head == "" {
		return nil
	}
	target := plumbing.ReferenceName(refs.head)
	if cur, err := g.Storer.Reference(plumbing.HEAD); err != nil || cur.Target() != target {
		if err := g.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, target)); err != nil {
			return fmt.Errorf("set HEAD of cache %s: %w", r.dir, err)
		}
	}
	return nil
}

var errRefsMoved = errors.New("remote refs moved during fetch")

// missingObjects reports whether a listed branch or tag points to an object
// the cache lacks.
func missingObjects(g *git.Repository, refs *refSet) bool {
	for name, h := range refs.hashes {
		if isMirrored(name) && g.Storer.HasEncodedObject(h) != nil {
			return true
		}
	}
	return false
}

func isMirrored(name string) bool {
	return strings.HasPrefix(name, "refs/heads/") || strings.HasPrefix(name, "refs/tags/")
}

// fetchRef fetches one ref that the mirror does not follow (refs/pull/1/head,
// or a detached HEAD) into refs/ferry/. The caller holds storeMu.
func (r *repo) fetchRef(ctx context.Context, name string) error {
	a, err := r.auth(ctx)
	if err != nil {
		return err
	}
	dst := "refs/ferry/" + strings.TrimPrefix(name, "refs/")
	return r.fetch(ctx, a, []config.RefSpec{config.RefSpec("+" + name + ":" + dst)}, false)
}

// fetchCommit asks the remote for one commit by hash, for commits no ref
// points to. Servers that do not allow it answer with an error, ignored here:
// the caller reports the revision as not found. The caller holds storeMu.
func (r *repo) fetchCommit(ctx context.Context, h plumbing.Hash) error {
	a, err := r.auth(ctx)
	if err != nil {
		return err
	}
	spec := config.RefSpec(h.String() + ":refs/ferry/commits/" + h.String())
	err = r.fetch(ctx, a, []config.RefSpec{spec}, false)
	if errors.Is(err, git.ErrExactSHA1NotSupported) {
		return nil
	}
	return err
}
