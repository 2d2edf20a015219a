package chartrepo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"

	"github.com/ferrycd/ferry/internal/redact"
)

// NormalizeURL returns the canonical form of a chart repository URL: the
// key under which Repos caches a repository and RepositorySecrets matches
// Secrets. It never carries credentials, so it can be logged and used as a
// metrics label.
//
//   - https://, http:// and oci:// URLs: scheme and host lowercased, the
//     path keeps its case, trailing "/" removed, user information dropped;
//   - host/path without a scheme (Argo CD's form of an OCI registry, with
//     enableOCI in the repository Secret): host lowercased, trailing "/"
//     removed, no scheme added — whether it is OCI depends on the Secret.
//
// Anything else is refused with an error wrapping ErrRefused: other schemes
// (file, ssh, git), local paths, URLs with a query or fragment (which would
// hold a token Ferry could not keep out of the key), control characters.
func NormalizeURL(repoURL string) (string, error) {
	s := strings.TrimSpace(repoURL)
	if s == "" {
		return "", fmt.Errorf("%w: empty chart repository URL", ErrRefused)
	}
	if strings.ContainsAny(s, "\x00\r\n\t ") {
		return "", fmt.Errorf("%w: chart repository URL %q: control character or space", ErrRefused, redact.URL(s))
	}
	bare := !strings.Contains(s, "://")
	if bare {
		if strings.HasPrefix(s, "/") || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") {
			return "", fmt.Errorf("%w: chart repository URL %q is a local path; charts come from https://, http:// or oci:// repositories", ErrRefused, s)
		}
		s = "oci://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: invalid chart repository URL %q", ErrRefused, redact.URL(s))
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https", "http", "oci":
	default:
		return "", fmt.Errorf("%w: chart repository URL %q: unsupported scheme %q (https, http and oci are)", ErrRefused, redact.URL(s), u.Scheme)
	}
	if u.Opaque != "" || u.Host == "" {
		return "", fmt.Errorf("%w: chart repository URL %q: no host", ErrRefused, redact.URL(s))
	}
	if !validHost(u.Host) || (bare && u.User != nil) {
		return "", fmt.Errorf("%w: chart repository URL %q: invalid host", ErrRefused, redact.URL(s))
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("%w: chart repository URL %q: a query or fragment is not supported (put credentials in a repository Secret)", ErrRefused, redact.URL(stripQuery(s)))
	}
	out := url.URL{Scheme: scheme, Host: strings.ToLower(u.Host), Path: strings.TrimRight(u.Path, "/")}
	if out.Path != "" {
		out.RawPath = strings.TrimRight(u.RawPath, "/")
	}
	norm := out.String()
	if bare {
		norm = strings.TrimPrefix(norm, "oci://")
	}
	return norm, nil
}

// validHost reports whether host (host[:port]) is a DNS name or an IP
// address, with an optional numeric port.
func validHost(host string) bool {
	h, port := host, ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.HasSuffix(host, "]") {
		h, port = host[:i], host[i+1:]
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		addr, err := netip.ParseAddr(h[1 : len(h)-1])
		return err == nil && addr.Is6()
	}
	if h == "" || strings.HasPrefix(h, ".") || strings.HasPrefix(h, "-") || strings.HasSuffix(h, "-") || strings.Contains(h, "..") {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

func stripQuery(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// IsOCI reports whether repoURL names an OCI registry: an oci:// URL, or
// Argo CD's host/path form when the repository's credentials say enableOCI.
func IsOCI(repoURL string, creds *Credentials) bool {
	s := strings.TrimSpace(repoURL)
	if strings.HasPrefix(strings.ToLower(s), "oci://") {
		return true
	}
	return !strings.Contains(s, "://") && creds != nil && creds.EnableOCI
}

// location is where a repository is and how to read it.
type location struct {
	norm  string       // NormalizeURL
	oci   bool         // an OCI registry
	base  *url.URL     // http(s) repositories: the repository URL, without user information
	reg   string       // OCI: host[:port]/path, to which "/<chart>" is appended
	creds *Credentials // nil: anonymous
	// key identifies the repository as these credentials read it: caches
	// are keyed by it, so what one set of credentials (or none) fetched
	// is never served to a caller with another.
	key string
}

// locate normalizes repoURL, looks up its credentials and checks that it
// may be read.
func (r *Repos) locate(ctx context.Context, repoURL string) (*location, error) {
	norm, err := NormalizeURL(repoURL)
	if err != nil {
		return nil, err
	}
	creds, err := r.credentials(ctx, repoURL, norm)
	if err != nil {
		return nil, err
	}
	loc := &location{norm: norm, creds: creds, key: norm + "\x00" + credsID(creds)}
	bare := !strings.Contains(norm, "://")
	switch {
	case bare && (creds == nil || !creds.EnableOCI):
		return nil, fmt.Errorf("%w: chart repository %q has no scheme and no repository Secret with enableOCI: \"true\" matches it; use https://, or oci:// for an OCI registry", ErrRefused, norm)
	case bare:
		loc.oci, loc.reg = true, norm
	case strings.HasPrefix(norm, "oci://"):
		loc.oci, loc.reg = true, strings.TrimPrefix(norm, "oci://")
	default:
		loc.base, _ = url.Parse(norm)
	}
	host := loc.reg
	if loc.base != nil {
		host = loc.base.Host
		if loc.base.Scheme == "http" {
			if err := r.checkPlainHTTP(host); err != nil {
				return nil, err
			}
		}
	} else {
		host, _, _ = strings.Cut(host, "/")
		// go-containerregistry reads a first path element without a dot
		// or a port as a repository on Docker Hub.
		if host != "localhost" && !strings.ContainsAny(host, ".:") {
			return nil, fmt.Errorf("%w: OCI registry %q: the host must have a dot or a port, or be localhost", ErrRefused, host)
		}
	}
	// An address literal is checked now; a name is checked where it is
	// dialled (Options.Net's transport), without a DNS lookup per call.
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if _, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		if err := r.opts.Net.CheckHost(ctx, host); err != nil {
			return nil, err
		}
	}
	return loc, nil
}

// credentials returns the credentials for a repository: its Secret's, else
// the user information written in the URL, else nil.
func (r *Repos) credentials(ctx context.Context, repoURL, norm string) (*Credentials, error) {
	var creds *Credentials
	if r.opts.Credentials != nil {
		project := ""
		if r.opts.Project != nil {
			project = r.opts.Project(ctx)
		}
		c, err := r.opts.Credentials(ctx, norm, project)
		if err != nil {
			return nil, fmt.Errorf("look up credentials of %s: %w", norm, err)
		}
		if c != nil {
			cp := *c
			creds = &cp
		}
	}
	if creds == nil || (creds.Username == "" && creds.Password == "") {
		if u, err := url.Parse(strings.TrimSpace(repoURL)); err == nil && u.User != nil {
			pw, _ := u.User.Password()
			if creds == nil {
				creds = &Credentials{}
			}
			creds.Username, creds.Password = u.User.Username(), pw
		}
	}
	if passFrom(ctx) {
		if creds == nil {
			creds = &Credentials{}
		}
		creds.PassCredentials = true
	}
	return creds, nil
}

// credsID identifies a set of credentials in cache keys without holding
// them: "" for anonymous, else a hash.
func credsID(c *Credentials) string {
	if c == nil || (*c == Credentials{}) {
		return ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%q\x00%q\x00%t\x00%t\x00%t", c.Username, c.Password, c.InsecureSkipTLS, c.EnableOCI, c.PassCredentials)
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// secrets lists the strings that must never appear in an error about loc.
func (loc *location) secrets() []string {
	if loc.creds == nil || loc.creds.Password == "" {
		return nil
	}
	return []string{loc.creds.Password, url.QueryEscape(loc.creds.Password), url.PathEscape(loc.creds.Password)}
}

// scrub keeps loc's password and any URL user information out of err's
// message; errors.Is and errors.As still see the original.
func (loc *location) scrub(err error) error {
	if err == nil {
		return nil
	}
	err = redact.Values(err, loc.secrets())
	if msg := redact.Text(err.Error()); msg != err.Error() {
		return &scrubbedError{msg: msg, err: err}
	}
	return err
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }

// Unwrap lets errors.Is and errors.As see the original; its message is not
// printed by anything that prints e.
func (e *scrubbedError) Unwrap() error { return e.err }

// checkPlainHTTP refuses plain HTTP to host (host[:port]) unless it is
// loopback or Options.AllowInsecureHTTP is set.
func (r *Repos) checkPlainHTTP(host string) error {
	if r.opts.AllowInsecureHTTP || isLoopback(host) {
		return nil
	}
	return fmt.Errorf("%w: plain HTTP to %s: credentials and charts would cross the network unprotected; only loopback is allowed unless insecure HTTP is (Options.AllowInsecureHTTP)", ErrRefused, host)
}

// isLoopback reports whether host (host[:port]) is "localhost" or a
// loopback IP literal. Names are not resolved: a name that resolves to
// loopback is treated as any other host.
func isLoopback(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.Unmap().IsLoopback()
}

// checkChartName refuses chart names that cannot name a chart.
func checkChartName(chart string) error {
	switch {
	case chart == "":
		return fmt.Errorf("%w: no chart name given", ErrRefused)
	case strings.ContainsAny(chart, "\x00\r\n\t ?#\\"),
		strings.HasPrefix(chart, "/"), strings.HasSuffix(chart, "/"),
		chart == "..", strings.HasPrefix(chart, "../"), strings.Contains(chart, "/../"), strings.HasSuffix(chart, "/.."):
		return fmt.Errorf("%w: invalid chart name", ErrRefused)
	}
	return nil
}

// shownURL is a URL as errors show it: user information redacted, and
// query and fragment left out (a chart URL from an index may carry a
// presigned token there).
func shownURL(s string) string { return redact.URL(stripQuery(s)) }
