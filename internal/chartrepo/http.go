package chartrepo

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The causes of a download's context when its time runs out.
var (
	errIndexTimeout = errors.New("index timeout")
	errChartTimeout = errors.New("chart timeout")
)

// maxRedirects is net/http's default.
const maxRedirects = 10

// newHTTPClient returns the client for Helm repositories: dial-time address
// checks (Options.Net), plain HTTP only where allowed (on redirects too),
// and credentials dropped on a redirect to another host.
func (r *Repos) newHTTPClient(insecureSkipTLS bool) *http.Client {
	t := r.opts.Net.Transport()
	if insecureSkipTLS {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // the repository Secret says insecure: "true"
	}
	return &http.Client{
		Transport: &plainHTTPGuard{inner: t, r: r},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			// net/http keeps Authorization for the same host name on
			// another port and for subdomains; Ferry keeps it only for the
			// very host (and port) that was asked, on every hop.
			for _, v := range via {
				if !strings.EqualFold(v.URL.Host, req.URL.Host) {
					req.Header.Del("Authorization")
					break
				}
			}
			return nil
		},
	}
}

func (r *Repos) httpClient(c *Credentials) *http.Client {
	if c != nil && c.InsecureSkipTLS {
		return r.httpInsecure
	}
	return r.httpSecure
}

// plainHTTPGuard refuses plain-HTTP requests that checkPlainHTTP refuses,
// whoever made them (a redirect, a chart URL, go-containerregistry's
// fallback to HTTP for private addresses).
type plainHTTPGuard struct {
	inner http.RoundTripper
	r     *Repos
}

// RoundTrip implements http.RoundTripper.
func (g *plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" {
		if err := g.r.checkPlainHTTP(req.URL.Host); err != nil {
			if req.Body != nil {
				req.Body.Close()
			}
			return nil, err
		}
	}
	return g.inner.RoundTrip(req)
}

// fetchIndex downloads and parses loc's index.yaml. ctx carries the
// IndexTimeout.
func (r *Repos) fetchIndex(ctx context.Context, loc *location) (*catalog, error) {
	start := time.Now()
	defer r.report(FetchIndex, loc.norm, start)
	u := loc.base.JoinPath("index.yaml")
	body, err := r.get(ctx, loc, u, true, r.opts.MaxIndexBytes, "MaxIndexBytes", r.opts.IndexTimeout, "IndexTimeout")
	if err != nil {
		return nil, fmt.Errorf("index of %s: %w", loc.norm, err)
	}
	cat, err := parseIndex(body)
	if err != nil {
		return nil, fmt.Errorf("index of %s: %w", loc.norm, err)
	}
	return cat, nil
}

// fetchHTTP downloads chart at version from a Helm repository. ctx carries
// the Timeout.
func (r *Repos) fetchHTTP(ctx context.Context, loc *location, chart, version string) (*Archive, error) {
	cat, err := r.catalog(ctx, loc, chart, time.Time{})
	if err != nil {
		return nil, err
	}
	v, ok := cat.charts[chart].find(version)
	if !ok {
		return nil, notFound("no version %q of chart %s in the index (newest: %s)", version, chart, cat.charts[chart].newest())
	}
	if len(v.urls) == 0 {
		return nil, fmt.Errorf("the index gives no URL for %s %s", chart, version)
	}
	u, err := chartURL(loc.base, v.urls[0])
	if err != nil {
		return nil, err
	}
	if u.Scheme == "http" {
		if err := r.checkPlainHTTP(u.Host); err != nil {
			return nil, fmt.Errorf("chart URL %s: %w", shownURL(u.String()), err)
		}
	}
	// Credentials go to the index's host, and elsewhere only when the
	// Application says passCredentials.
	withCreds := strings.EqualFold(u.Host, loc.base.Host) || (loc.creds != nil && loc.creds.PassCredentials)
	start := time.Now()
	data, err := r.get(ctx, loc, u, withCreds, r.opts.MaxChartBytes, "MaxChartBytes", r.opts.Timeout, "Timeout")
	r.report(FetchChart, loc.norm, start)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if want := strings.ToLower(strings.TrimPrefix(v.digest, "sha256:")); want != "" && want != got {
		return nil, fmt.Errorf("%w: %s is sha256:%s, the index says sha256:%s", ErrDigestMismatch, shownURL(u.String()), got, want)
	}
	return &Archive{Data: data, Digest: "sha256:" + got}, nil
}

// chartURL resolves an index's chart URL against the repository URL, as
// Helm does (the repository URL taken as a directory), and checks its
// scheme.
func chartURL(base *url.URL, ref string) (*url.URL, error) {
	rel, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return nil, fmt.Errorf("the index gives an invalid chart URL %q", shownURL(ref))
	}
	dir := *base
	dir.Path = strings.TrimSuffix(dir.Path, "/") + "/"
	dir.RawPath = ""
	u := dir.ResolveReference(rel)
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("%w: the index gives chart URL %q: unsupported scheme %q (https and http are)", ErrRefused, shownURL(ref), u.Scheme)
	}
	return u, nil
}

// get downloads u, with loc's credentials when withCreds, reading at most
// max bytes; the download is also bounded by ctx, whose cause says that
// limit elapsed. The limits' names make the errors say which stopped it.
func (r *Repos) get(ctx context.Context, loc *location, u *url.URL, withCreds bool, max int64, maxName string, limit time.Duration, limitName string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	shown := shownURL(u.String())
	if withCreds && loc.creds != nil && (loc.creds.Username != "" || loc.creds.Password != "") {
		req.SetBasicAuth(loc.creds.Username, loc.creds.Password)
	}
	req.Header.Set("Accept", "*/*")
	resp, err := r.httpClient(loc.creds).Do(req)
	if err != nil {
		if timedOut(ctx) {
			return nil, fmt.Errorf("GET %s: no answer within %s (%s)", shown, limit, limitName)
		}
		return nil, fmt.Errorf("GET %s: %w", shown, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// resp.Request is the last hop: a redirect to another host went without credentials.
		return nil, &StatusError{
			URL: shownURL(resp.Request.URL.String()), Code: resp.StatusCode,
			Authenticated: resp.Request.Header.Get("Authorization") != "",
			Withheld:      loc.creds != nil && (loc.creds.Username != "" || loc.creds.Password != "") && resp.Request.Header.Get("Authorization") == "",
		}
	}
	if resp.ContentLength > max {
		return nil, fmt.Errorf("GET %s: %d bytes exceed the %s cap (%s): %w", shown, resp.ContentLength, size(max), maxName, ErrTooLarge)
	}
	cr := &countingReader{r: io.LimitReader(resp.Body, max+1)}
	data, err := io.ReadAll(cr)
	switch {
	case int64(len(data)) > max:
		return nil, fmt.Errorf("GET %s: the body exceeds the %s cap (%s): %w", shown, size(max), maxName, ErrTooLarge)
	case err != nil && timedOut(ctx):
		return nil, fmt.Errorf("GET %s: not read within %s (%s); %s received", shown, limit, limitName, size(cr.n))
	case err != nil:
		return nil, fmt.Errorf("GET %s: reading the body: %w", shown, err)
	}
	return data, nil
}

// timedOut reports whether ctx ended because a download's limit elapsed.
func timedOut(ctx context.Context) bool {
	c := context.Cause(ctx)
	return errors.Is(c, errIndexTimeout) || errors.Is(c, errChartTimeout)
}

// unwrapURLError drops net/http's "Get \"url\":" prefix (the caller names
// the URL, redacted) while keeping the cause for errors.Is.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// StatusError is an HTTP answer other than 200 from a Helm repository.
type StatusError struct {
	URL           string // redacted
	Code          int
	Authenticated bool // credentials were sent
	Withheld      bool // the repository has credentials, not sent to this host
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.Code, http.StatusText(e.Code))
	switch {
	case (e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden) && e.Authenticated:
		return msg + ": the repository refused the credentials of its repository Secret"
	case (e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden) && e.Withheld:
		return msg + ": credentials were not sent: this host is not the repository's, and passCredentials is off"
	case e.Code == http.StatusUnauthorized || e.Code == http.StatusForbidden:
		return msg + ": the repository needs credentials, and no repository Secret matches it"
	case e.Code == http.StatusNotFound:
		return msg + ": not found"
	}
	return msg
}

// Is makes a 404 match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && e.Code == http.StatusNotFound
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// size prints a byte count the way the caps are usually written.
func size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
