package chartrepo

import (
	"context"
	"time"
)

// catalog is what one download says about a repository's versions: the
// charts of a Helm repository's index, or the one chart of an OCI
// repository's tag list.
type catalog struct {
	charts map[string]chartVersions
}

// catalogEntry is the cached catalog of one repository as one set of
// credentials reads it (location.key, plus the chart for OCI).
type catalogEntry struct {
	// guarded by Repos.mu
	cat       *catalog  // last good catalog
	fetchedAt time.Time // start of the download of cat
	checkedAt time.Time // start of the last download, good or not
	err       error     // error of the last download, if it failed
	usedAt    time.Time // last asked for, to forget unused entries
	flight    *catalogFlight
}

// catalogFlight is a download in progress, which callers join.
type catalogFlight struct {
	done    chan struct{}
	started time.Time
	cat     *catalog
	err     error
}

// forgetAfter is how many poll intervals an unused catalog is kept: the
// cache holds the repositories Applications read, not every one ever read
// (a rotated password makes a new key).
const forgetAfter = 10

// catalog returns the catalog of loc (for OCI, of chart's repository),
// downloading it at most once per poll interval, or, for a non-zero since,
// from a download started after since; see ResolveSince.
func (r *Repos) catalog(ctx context.Context, loc *location, chart string, since time.Time) (*catalog, error) {
	key := loc.key
	if loc.oci {
		key += "\x00" + chart
	}
	forced := !since.IsZero()
	start := r.now()
	r.mu.Lock()
	e := r.catalogs[key]
	if e == nil {
		r.forgetUnused(start)
		e = &catalogEntry{}
		r.catalogs[key] = e
	}
	e.usedAt = start
	for {
		if forced && e.checkedAt.After(since) {
			// The last download answers the call; its own result, as a
			// flight's (a failure is not covered by the last good one).
			cat, err := e.last()
			r.mu.Unlock()
			return cat, err
		}
		if !forced && !e.checkedAt.IsZero() && start.Sub(e.checkedAt) < r.opts.PollInterval {
			cat, err := r.served(e, start)
			r.mu.Unlock()
			return cat, err
		}
		f := e.flight
		if f == nil {
			break
		}
		r.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		r.mu.Lock()
		if !forced {
			cat, err := r.served(e, start)
			r.mu.Unlock()
			return cat, err
		}
		if f.started.After(since) {
			r.mu.Unlock()
			return f.cat, f.err
		}
		// A forced call needs a download started after since.
	}
	f := &catalogFlight{done: make(chan struct{}), started: start}
	e.flight = f
	r.mu.Unlock()

	// The download runs detached from ctx: the callers who join it must not
	// fail because the first one gave up. It is bounded by IndexTimeout.
	go r.runCatalogFlight(context.WithoutCancel(ctx), loc, chart, e, f)
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if forced {
		return f.cat, f.err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.served(e, start)
}

// last is the last download's own result: its catalog, or its failure.
// r.mu is held.
func (e *catalogEntry) last() (*catalog, error) {
	if e.err != nil {
		return nil, e.err
	}
	return e.cat, nil
}

// served is what a caller that does not force gets: the last download's
// catalog, or after a failed one the last good catalog while it is less
// than two poll intervals old, else the failure. r.mu is held.
func (r *Repos) served(e *catalogEntry, now time.Time) (*catalog, error) {
	if e.err == nil {
		return e.cat, nil
	}
	if e.cat != nil && now.Sub(e.fetchedAt) < 2*r.opts.PollInterval {
		return e.cat, nil
	}
	return nil, e.err
}

func (r *Repos) runCatalogFlight(ctx context.Context, loc *location, chart string, e *catalogEntry, f *catalogFlight) {
	ctx, cancel := context.WithTimeoutCause(ctx, r.opts.IndexTimeout, errIndexTimeout)
	defer cancel()
	var cat *catalog
	var err error
	if loc.oci {
		cat, err = r.listTags(ctx, loc, chart)
	} else {
		cat, err = r.fetchIndex(ctx, loc)
	}
	r.mu.Lock()
	e.checkedAt, e.err = f.started, err
	if err == nil {
		e.cat, e.fetchedAt = cat, f.started
	}
	f.cat, f.err = cat, err
	e.flight = nil
	r.mu.Unlock()
	close(f.done)
}

// forgetUnused drops the catalogs nobody asked for in forgetAfter poll
// intervals. r.mu is held.
func (r *Repos) forgetUnused(now time.Time) {
	for k, e := range r.catalogs {
		if e.flight == nil && now.Sub(e.usedAt) > forgetAfter*r.opts.PollInterval {
			delete(r.catalogs, k)
		}
	}
}
