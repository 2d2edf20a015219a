package source

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing/transport"
)

func TestNormalizeURL(t *testing.T) {
	cwd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, want string
	}{
		{"https://github.com/org/repo", "https://github.com/org/repo"},
		{"https://github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://github.com/org/repo/", "https://github.com/org/repo"},
		{"https://github.com/org/repo.git/", "https://github.com/org/repo"},
		{"  https://GitHub.COM/Org/Repo.git ", "https://github.com/Org/Repo"},
		{"HTTPS://github.com/org/repo", "https://github.com/org/repo"},
		{"https://user:token@github.com/org/repo.git", "https://github.com/org/repo"},
		{"https://token@github.com/org/repo", "https://github.com/org/repo"},
		{"https://github.com/org/repo?x=1#frag", "https://github.com/org/repo"},
		{"http://127.0.0.1:8080/demo.git", "http://127.0.0.1:8080/demo"},
		{"git@github.com:org/repo.git", "ssh://git@github.com/org/repo"},
		{"git@GitHub.com:/org/repo", "ssh://git@github.com/org/repo"},
		{"ssh://git@github.com/org/repo.git", "ssh://git@github.com/org/repo"},
		{"ssh://git:secret@github.com:2222/org/repo", "ssh://git@github.com:2222/org/repo"},
		{"git://example.com/repo", "git://example.com/repo"},
		{"file:///srv/git/repo.git", "file:///srv/git/repo"},
		{"/srv/git/repo", "file:///srv/git/repo"},
		{"relative/repo", "file://" + filepath.ToSlash(filepath.Join(cwd, "relative/repo"))},
	}
	for _, tt := range tests {
		got, err := NormalizeURL(tt.in)
		if err != nil {
			t.Errorf("NormalizeURL(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("NormalizeURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeURLErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"   ",
		"https://",
		"https:///path",
		"ftp://example.com/repo",
		"https://user:hunter2@",
		"https://exa mple.com/repo",
		"https://example.com/\nrepo",
		"file://",
	} {
		got, err := NormalizeURL(in)
		if err == nil {
			t.Errorf("NormalizeURL(%q) = %q, want an error", in, got)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NormalizeURL(%q) error shows the password: %v", in, err)
		}
	}
}

func TestRedactError(t *testing.T) {
	raw := "https://alice:p%40ss%2Fword@host/repo"
	secrets := append(secretsOf(raw), secretForms("hunter2")...)
	err := fmt.Errorf("list refs: %w", transport.ErrAuthenticationRequired)
	for _, msg := range []string{
		"unable to access https://alice:p%40ss%2Fword@host/repo",
		"bad password p@ss/word",
		"bad password hunter2",
		"user alice",
	} {
		red := redactSecrets(fmt.Errorf("%s: %w", msg, err), secrets)
		for _, s := range []string{"p@ss/word", "p%40ss%2Fword", "hunter2", "alice"} {
			if strings.Contains(red.Error(), s) {
				t.Errorf("redacted %q still contains %q", red, s)
			}
		}
		if !errors.Is(red, transport.ErrAuthenticationRequired) {
			t.Errorf("redacted error %q lost its identity", red)
		}
	}
	if err := redactSecrets(errors.New("nothing secret"), secrets); err.Error() != "nothing secret" {
		t.Errorf("redactSecrets changed a clean error: %v", err)
	}
}

// FuzzNormalizeURL checks that normalizing untrusted repository URLs never
// panics, is idempotent, and never keeps a password (or, outside ssh, a user
// name) in the key.
func FuzzNormalizeURL(f *testing.F) {
	for _, s := range []string{
		"https://github.com/org/repo.git",
		"https://user:pass@Host:443/a/b.git/",
		"git@github.com:org/repo",
		"ssh://git:pw@host:22/x.git",
		"file:///tmp/repo.git.git//",
		"/tmp/repo",
		"host:",
		"https://[::1]:8080/r",
		"https://h/%zz",
		"http://h/a%2Fb.git",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		key, err := NormalizeURL(in)
		if err != nil {
			return
		}
		again, err := NormalizeURL(key)
		if err != nil {
			t.Fatalf("NormalizeURL(%q) = %q, which does not normalize: %v", in, key, err)
		}
		if again != key {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, key, again)
		}
		u, err := url.Parse(key)
		if err != nil {
			t.Fatalf("key %q does not parse: %v", key, err)
		}
		if _, hasPass := u.User.Password(); hasPass {
			t.Fatalf("key %q keeps a password", key)
		}
		if u.User != nil && u.Scheme != "ssh" {
			t.Fatalf("key %q keeps user information", key)
		}
		if strings.HasSuffix(key, "/") || strings.HasSuffix(key, ".git") {
			t.Fatalf("key %q keeps a trailing / or .git", key)
		}
	})
}
