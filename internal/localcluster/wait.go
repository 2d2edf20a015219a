package localcluster

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

const pollInterval = 100 * time.Millisecond

// waitFor polls check until it returns true, ctx ends, or p exits (then the
// error carries the end of p's log).
func waitFor(ctx context.Context, p *process, what string, check func(context.Context) (bool, error)) error {
	return poll(ctx, what, check, p.failure)
}

// waitAll is waitFor while any component may fail: the first to exit ends the
// wait with its log.
func (c *Cluster) waitAll(ctx context.Context, what string, check func(context.Context) (bool, error)) error {
	return poll(ctx, what, check, c.failure)
}

// poll calls check every pollInterval until it returns true or an error, ctx
// ends, or failed reports a component that has exited.
func poll(ctx context.Context, what string, check func(context.Context) (bool, error), failed func() error) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		ok, err := check(ctx)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		if err := failed(); err != nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", what, context.Cause(ctx))
		case <-ticker.C:
		}
	}
}

// failure returns the exit error of the first component that has exited.
func (c *Cluster) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if err := p.failure(); err != nil {
			return err
		}
	}
	return nil
}

// httpOK reports whether GET url answers 200. Connection errors mean "not
// yet", not failure.
func httpOK(ctx context.Context, client *http.Client, url string) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode == http.StatusOK, nil
}

func httpClientFor(cfg *rest.Config) (*http.Client, error) {
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("HTTP client for %s: %w", cfg.Host, err)
	}
	client.Timeout = 5 * time.Second
	return client, nil
}
