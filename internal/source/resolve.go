package source

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/ferrycd/ferry/internal/netguard"
)

var (
	// ErrRevisionNotFound is wrapped by the errors for a revision that names
	// no branch, tag or fetched commit of the repository.
	ErrRevisionNotFound = errors.New("revision not found")
	// ErrAmbiguousRevision is wrapped by the error for a short SHA that
	// matches more than one commit.
	ErrAmbiguousRevision = errors.New("ambiguous revision")
	// ErrRefused is wrapped by the error for a repository Ferry may not
	// read: a local one without Options.AllowLocal, or one at an address
	// the network policy refuses. Retrying cannot help.
	ErrRefused = netguard.ErrRefused
)

// minShortSHA is the shortest commit abbreviation accepted, as in git.
const minShortSHA = 4

// Resolve turns a targetRevision into a full commit SHA. The revision may be
// a branch or tag name, a full ref name (refs/pull/1/head), a full or short
// commit SHA, or "HEAD" or "" for the remote's default branch.
//
// The first call for a repository clones it (bare, into Options.Dir). Later
// calls list the remote's refs at most once per Options.PollInterval, and
// fetch, incrementally, only when a ref points to a commit the cache lacks.
// force (a hard refresh) lists now (ResolveSince with the time of the
// call). Concurrent callers share one listing and fetch. A full SHA already
// in the cache resolves without any network access. A short SHA resolves
// only if it matches exactly one fetched commit.
//
// A commit no branch or tag reaches any longer (the branch was force-pushed
// to other history) still resolves while the cache holds it: a fetch prunes
// refs, never objects. So a rollback to a deployed commit that a force push
// orphaned syncs it, as Argo CD does: its repo-server checks out a commit its
// clone still holds (IsRevisionPresent) without asking the remote. A commit
// the cache never fetched is asked of the remote by hash; a server that
// refuses unadvertised commits (git's default) makes it ErrRevisionNotFound,
// in an error naming the revision, as Argo CD fails to check it out.
func (c *Cache) Resolve(ctx context.Context, repoURL, revision string, force bool) (string, error) {
	var since time.Time
	if force {
		since = c.now()
	}
	return c.ResolveSince(ctx, repoURL, revision, since)
}

// ResolveSince is Resolve from a listing of the remote's refs that started
// after since (a zero since: Resolve's poll interval). A refresh asked for
// at some time (an Application's refresh annotation, seen by the watch at
// since) is answered by any listing started since then: whatever was
// pushed before the ask shows in it. So a burst of refreshes of the
// Applications of one repository shares a listing or two, instead of each
// waiting for one started after its own reconcile began. since is read on
// the clock of the caller's process (time.Now).
func (c *Cache) ResolveSince(ctx context.Context, repoURL, revision string, since time.Time) (string, error) {
	r, err := c.repo(ctx, repoURL)
	if err != nil {
		return "", err
	}
	rev := strings.TrimSpace(revision)
	if isHex(rev) && len(rev) == hexSHALen {
		h, err := r.ensureCommit(ctx, plumbing.NewHash(strings.ToLower(rev)), since)
		if err != nil {
			return "", fmt.Errorf("resolve %q in %s: %w", rev, r.key, err)
		}
		return h.String(), nil
	}
	refs, _, err := r.refresh(ctx, since)
	if err != nil {
		return "", fmt.Errorf("resolve %q in %s: %w", rev, r.key, err)
	}
	if name, h, ok := refs.lookup(rev); ok {
		commit, err := r.refCommit(ctx, name, h)
		if err != nil {
			return "", fmt.Errorf("resolve %q in %s: %w", rev, r.key, err)
		}
		return commit.String(), nil
	}
	if isHex(rev) && len(rev) >= minShortSHA {
		h, err := r.shortSHA(strings.ToLower(rev))
		if err != nil {
			return "", fmt.Errorf("resolve %q in %s: %w", rev, r.key, err)
		}
		return h.String(), nil
	}
	return "", fmt.Errorf("resolve %q in %s: %w", rev, r.key, ErrRevisionNotFound)
}

// flight is one refresh (listing, then fetch if needed) in progress.
type flight struct {
	done    chan struct{}
	started time.Time
	refs    *refSet
	err     error
}

// refresh returns the remote's refs: from the last listing when it started
// after since, or, for a zero since, when it is younger than the poll
// interval; otherwise from a new listing. Callers arriving during a listing
// wait for it and share its result (and start another when it began before
// their since). refreshed reports whether the result comes from a listing
// that satisfies since (made for this call, or one started after since),
// rather than a cached one within the poll interval.
func (r *repo) refresh(ctx context.Context, since time.Time) (refs *refSet, refreshed bool, err error) {
	start := r.c.now()
	forced := !since.IsZero()
	r.mu.Lock()
	for {
		if !r.listedAt.IsZero() {
			if forced && r.listedAt.After(since) {
				refs, err := r.refs, r.listErr
				r.mu.Unlock()
				return refs, true, err
			}
			if !forced && start.Sub(r.listedAt) < r.c.opts.PollInterval {
				refs, err := r.refs, r.listErr
				r.mu.Unlock()
				return refs, false, err
			}
		}
		f := r.flight
		if f == nil {
			break
		}
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
		if !forced || f.started.After(since) {
			return f.refs, true, f.err
		}
		r.mu.Lock() // a forced call needs a listing started after since
	}
	f := &flight{done: make(chan struct{}), started: start}
	r.flight = f
	r.mu.Unlock()

	// The work runs detached from ctx: the callers who join it must not fail
	// because the first one gave up. It is bounded by Options.Timeout.
	go r.runFlight(context.WithoutCancel(ctx), f)
	select {
	case <-f.done:
		return f.refs, true, f.err
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
}

func (r *repo) runFlight(ctx context.Context, f *flight) {
	refs, err := r.listAndSync(ctx)
	r.mu.Lock()
	r.listedAt, r.listErr = f.started, err
	if err == nil {
		r.refs = refs
	} else {
		r.refs = nil
	}
	f.refs, f.err = r.refs, err
	r.flight = nil
	r.mu.Unlock()
	close(f.done)
}

func (r *repo) listAndSync(ctx context.Context) (refs *refSet, err error) {
	defer func() {
		// go-git parses what the remote sends; a bug there must not take the
		// whole process down.
		if p := recover(); p != nil {
			refs, err = nil, fmt.Errorf("git transport panic: %v", p)
		}
	}()
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.Timeout)
	defer cancel()
	a, err := r.auth(ctx)
	if err != nil {
		return nil, err
	}
	for range 3 {
		refs, err = r.list(ctx, a)
		if err != nil {
			return nil, err
		}
		err = r.withStore(func() error { return r.sync(ctx, a, refs) })
		if !errors.Is(err, errRefsMoved) {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	return refs, nil
}

// ensureCommit returns the commit that h names (h itself, or the commit of
// the tag h), fetching it if the cache lacks it: first by a refresh (subject
// to the poll interval unless since is set), then, if that refresh happened,
// by asking the remote for h itself.
func (r *repo) ensureCommit(ctx context.Context, h plumbing.Hash, since time.Time) (plumbing.Hash, error) {
	commit, err := r.localCommit(h)
	if err == nil || !errors.Is(err, plumbing.ErrObjectNotFound) {
		return commit, err
	}
	_, refreshed, err := r.refresh(ctx, since)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	commit, err = r.localCommit(h)
	if err == nil || !errors.Is(err, plumbing.ErrObjectNotFound) || !refreshed {
		return commit, notFound(err)
	}
	if err := r.withStore(func() error { return r.fetchCommit(ctx, h) }); err != nil {
		return plumbing.ZeroHash, err
	}
	commit, err = r.localCommit(h)
	return commit, notFound(err)
}

func notFound(err error) error {
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return ErrRevisionNotFound
	}
	return err
}

// refCommit returns the commit a listed ref points to, fetching the ref if
// the mirror does not follow it.
func (r *repo) refCommit(ctx context.Context, name string, h plumbing.Hash) (plumbing.Hash, error) {
	commit, err := r.localCommit(h)
	if !errors.Is(err, plumbing.ErrObjectNotFound) {
		return commit, err
	}
	if err := r.withStore(func() error { return r.fetchRef(ctx, name) }); err != nil {
		return plumbing.ZeroHash, err
	}
	commit, err = r.localCommit(h)
	return commit, notFound(err)
}

// withStore runs fn holding storeMu with the cache open.
func (r *repo) withStore(fn func() error) error {
	r.storeMu.Lock()
	defer r.storeMu.Unlock()
	if _, err := r.open(); err != nil {
		return err
	}
	return fn()
}

// maxPeeled bounds the memo of peeled hashes; past it, the memo restarts.
const maxPeeled = 4096

// localCommit peels h to a commit in the cache, without network access.
// Objects never change, so results are remembered: resolving a branch within
// the poll interval then touches neither the disk nor storeMu (which a fetch
// may hold).
func (r *repo) localCommit(h plumbing.Hash) (commit plumbing.Hash, err error) {
	r.mu.Lock()
	commit, ok := r.peeled[h]
	r.mu.Unlock()
	if ok {
		return commit, nil
	}
	err = r.withStore(func() error {
		commit, err = peel(r.git.Storer, h)
		return err
	})
	if err == nil {
		r.mu.Lock()
		if r.peeled == nil || len(r.peeled) >= maxPeeled {
			r.peeled = map[plumbing.Hash]plumbing.Hash{}
		}
		r.peeled[h] = commit
		r.mu.Unlock()
	}
	return commit, err
}

// peel follows annotated tags from h to a commit.
func peel(s storer.EncodedObjectStorer, h plumbing.Hash) (plumbing.Hash, error) {
	for range 16 {
		obj, err := s.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		switch obj.Type() {
		case plumbing.CommitObject:
			return h, nil
		case plumbing.TagObject:
			tag, err := object.DecodeTag(s, obj)
			if err != nil {
				return plumbing.ZeroHash, err
			}
			h = tag.Target
		default:
			return plumbing.ZeroHash, fmt.Errorf("%s is a %s, not a commit", h, obj.Type())
		}
	}
	return plumbing.ZeroHash, fmt.Errorf("%s: too many nested tags", h)
}

// shortSHA finds the one commit whose hash starts with prefix (lowercase hex)
// among the fetched objects. Tags count as their commit; trees and blobs are
// ignored, as in git's commit-ish disambiguation.
func (r *repo) shortSHA(prefix string) (plumbing.Hash, error) {
	var found []plumbing.Hash
	err := r.withStore(func() error {
		finder, ok := r.git.Storer.(interface {
			HashesWithPrefix(prefix []byte) ([]plumbing.Hash, error)
		})
		if !ok {
			return errors.New("cache cannot search short hashes")
		}
		b, err := hex.DecodeString(prefix[:len(prefix)/2*2])
		if err != nil {
			return err
		}
		hashes, err := finder.HashesWithPrefix(b)
		if err != nil {
			return err
		}
		seen := map[plumbing.Hash]bool{}
		for _, h := range hashes {
			if !strings.HasPrefix(h.String(), prefix) {
				continue
			}
			commit, err := peel(r.git.Storer, h)
			if err != nil || seen[commit] {
				continue
			}
			seen[commit] = true
			found = append(found, commit)
		}
		return nil
	})
	switch {
	case err != nil:
		return plumbing.ZeroHash, err
	case len(found) == 0:
		return plumbing.ZeroHash, ErrRevisionNotFound
	case len(found) > 1:
		return plumbing.ZeroHash, fmt.Errorf("%w: %d commits start with %s", ErrAmbiguousRevision, len(found), prefix)
	}
	return found[0], nil
}

const hexSHALen = 40

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return false
		}
	}
	return true
}
