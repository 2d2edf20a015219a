package source

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/ferrycd/ferry/internal/redact"
)

// NormalizeURL returns the canonical form of a repository URL, the key under
// which Ferry caches a repository. Two spellings of one repository share one
// cache (and one Stats entry), as they do in Argo CD:
//
//   - the scheme and host are lowercased, the path keeps its case;
//   - trailing "/" and ".git" are removed from the path;
//   - scp-like addresses (git@host:org/repo) become ssh://git@host/org/repo;
//   - plain local paths become file:// URLs with an absolute path;
//   - passwords are dropped, and so are user names except for ssh (where the
//     user name selects the account, and is not a secret), so the key can be
//     logged and used as a metrics label;
//   - query and fragment are dropped.
//
// The supported schemes are file, http, https, ssh and git.
func NormalizeURL(rawURL string) (string, error) {
	s := strings.TrimSpace(rawURL)
	if s == "" {
		return "", errors.New("empty repository URL")
	}
	if strings.ContainsAny(s, "\x00\r\n") {
		return "", fmt.Errorf("invalid repository URL %q: control character", redact.URL(s))
	}
	if !strings.Contains(s, "://") {
		if isSCPLike(s) {
			s = scpToSSH(s)
		} else {
			abs, err := filepath.Abs(s)
			if err != nil {
				return "", fmt.Errorf("invalid repository path %q: %w", s, err)
			}
			s = (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}).String()
		}
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("invalid repository URL %q", redact.URL(s))
	}
	out := url.URL{Scheme: strings.ToLower(u.Scheme), Host: strings.ToLower(u.Host)}
	switch out.Scheme {
	case "http", "https", "git":
		if out.Host == "" {
			return "", fmt.Errorf("invalid repository URL %q: no host", redact.URL(s))
		}
	case "ssh":
		if out.Host == "" {
			return "", fmt.Errorf("invalid repository URL %q: no host", redact.URL(s))
		}
		if u.User != nil && u.User.Username() != "" {
			out.User = url.User(u.User.Username())
		}
	case "file":
		if u.Opaque != "" {
			return "", fmt.Errorf("invalid repository URL %q: file URLs need an absolute path", redact.URL(s))
		}
	default:
		return "", fmt.Errorf("invalid repository URL %q: unsupported scheme %q", redact.URL(s), u.Scheme)
	}
	if u.Opaque != "" {
		return "", fmt.Errorf("invalid repository URL %q: no host", redact.URL(s))
	}
	out.Path = trimRepoSuffix(u.Path)
	if out.Scheme == "file" && out.Path == "" {
		return "", fmt.Errorf("invalid repository URL %q: empty path", redact.URL(s))
	}
	return out.String(), nil
}

// RefuseLocal refuses norm, a NormalizeURL result, when it names the
// controller's own disk (a file:// URL) and allow is false. The error wraps
// ErrRefused and names the flag that allows it.
func RefuseLocal(norm string, allow bool) error {
	if allow || !strings.HasPrefix(norm, "file://") {
		return nil
	}
	return fmt.Errorf("%w: %s is on the controller's disk; local repositories are refused unless the controller runs with --allow-local-repositories", ErrRefused, norm)
}

// trimRepoSuffix removes trailing slashes and ".git" until neither is left, so
// normalizing is idempotent.
func trimRepoSuffix(p string) string {
	for {
		switch {
		case strings.HasSuffix(p, "/"):
			p = p[:len(p)-1]
		case strings.HasSuffix(p, ".git"):
			p = p[:len(p)-len(".git")]
		default:
			return p
		}
	}
}

// isSCPLike reports whether s is git's scp-like syntax [user@]host:path: a
// colon before any slash, and something before the colon.
func isSCPLike(s string) bool {
	colon := strings.Index(s, ":")
	if colon <= 0 {
		return false
	}
	slash := strings.Index(s, "/")
	return slash < 0 || colon < slash
}

// scpToSSH turns [user@]host:path into ssh://[user@]host/path.
func scpToSSH(s string) string {
	colon := strings.Index(s, ":")
	hostPart, p := s[:colon], strings.TrimPrefix(s[colon+1:], "/")
	return "ssh://" + hostPart + "/" + p
}

// secretsOf lists the strings that must never appear in an error about rawURL:
// the password and (outside ssh) the user name embedded in the URL, and their
// escaped forms.
func secretsOf(rawURL string) []string {
	scheme, rest, ok := strings.Cut(rawURL, "://")
	if !ok {
		return nil
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return nil
	}
	userinfo := authority[:at]
	user, pass, hasPass := strings.Cut(userinfo, ":")
	var out []string
	if hasPass {
		out = append(out, userinfo, pass)
	}
	if !strings.EqualFold(scheme, "ssh") {
		out = append(out, user)
	}
	var all []string
	for _, s := range out {
		all = append(all, secretForms(s)...)
	}
	return all
}

// secretForms returns s and the escaped forms in which it may be printed.
func secretForms(s string) []string {
	if s == "" {
		return nil
	}
	forms := []string{s}
	unescaped, err := url.PathUnescape(s)
	if err == nil && unescaped != s {
		forms = append(forms, unescaped)
	}
	for _, f := range []string{url.PathEscape(unescaped), url.QueryEscape(unescaped), url.UserPassword("", unescaped).String()[1:]} {
		if f != s && f != "" {
			forms = append(forms, f)
		}
	}
	return forms
}

// redactedError hides secrets in the message of an error from the Git
// transport. It matches what the original matched with errors.Is (so
// transport.ErrAuthenticationRequired and the like still work), but does not
// unwrap: an inner error could print the secret again.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error matches target.
func (e *redactedError) Is(target error) bool { return errors.Is(e.err, target) }

// redactSecrets returns err with every secret replaced by "***" in its message.
func redactSecrets(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, s := range secrets {
		if s != "" {
			clean = strings.ReplaceAll(clean, s, "***")
		}
	}
	if clean == msg {
		return err
	}
	return &redactedError{msg: clean, err: err}
}
