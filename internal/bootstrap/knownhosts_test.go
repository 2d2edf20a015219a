package bootstrap

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

// TestKnownHosts: the lines of the user's known_hosts for the repository's
// host are what the controller gets, plain or hashed, port included; a
// host with none is refused.
func TestKnownHosts(t *testing.T) {
	const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
	file := filepath.Join(t.TempDir(), "known_hosts")
	lines := strings.Join([]string{
		"# a comment",
		"git.example.com,192.0.2.1 " + key,
		knownhosts.HashHostname("[git.example.com]:2222") + " " + key,
		"other.example.com " + key,
		"@revoked git.example.com " + key,
		"*.example.com " + key,
	}, "\n")
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_KNOWN_HOSTS", file)
	for _, tc := range []struct {
		url, want string
	}{
		{"ssh://git@git.example.com/org/gitops.git", "git.example.com,192.0.2.1 " + key + "\n"},
		{"git@git.example.com:org/gitops.git", "git.example.com,192.0.2.1 " + key + "\n"},
		{"ssh://git@git.example.com:2222/org/gitops.git", "|1|"},
	} {
		got, err := Options{URL: tc.url}.KnownHosts()
		if err != nil || !strings.HasPrefix(string(got), tc.want) || strings.Count(string(got), "\n") != 1 {
			t.Errorf("%s: %q, %v; want one line starting %q", tc.url, got, err, tc.want)
		}
	}
	if _, err := (Options{URL: "ssh://git@unknown.example.com/x.git"}).KnownHosts(); err == nil || !strings.Contains(err.Error(), "no host key for unknown.example.com") {
		t.Errorf("a host with no key: %v", err)
	}
}

// TestCheckRefusesSecretsInGit: a password in the URL would be committed.
func TestCheckRefusesSecretsInGit(t *testing.T) {
	opts := Options{URL: "https://ferry:s3cret@git.example.com/org/gitops.git", Branch: "main", Path: "clusters/production"}
	if err := opts.Check(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a password in the URL: %v", err)
	}
	opts.URL = "https://ferry@git.example.com/org/gitops.git"
	if err := opts.Check(); err != nil {
		t.Errorf("a user name alone: %v", err)
	}
	opts.Path = "/"
	if err := opts.Check(); err == nil {
		t.Error("the repository's root as the cluster's path was accepted")
	}
}
