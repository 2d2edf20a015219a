package project

import (
	"strings"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestSourcePermitted(t *testing.T) {
	tests := []struct {
		name  string
		repos []string
		url   string
		want  bool
	}{
		{"no sourceRepos permits nothing", nil, "https://github.com/org/repo", false},
		{"star permits any", []string{"*"}, "https://github.com/org/repo", true},
		{"star permits an scp-like URL", []string{"*"}, "git@github.com:org/repo.git", true},
		{"exact URL", []string{"https://github.com/org/repo"}, "https://github.com/org/repo", true},
		{"other repo", []string{"https://github.com/org/repo"}, "https://github.com/org/other", false},
		{"pattern .git, URL without", []string{"https://github.com/org/repo.git"}, "https://github.com/org/repo", true},
		{"URL .git, pattern without", []string{"https://github.com/org/repo"}, "https://github.com/org/repo.git", true},
		{"trailing slash", []string{"https://github.com/org/repo/"}, "https://github.com/org/repo.git/", true},
		{"case differs", []string{"https://GitHub.com/Org/Repo"}, "https://github.com/org/REPO.git", true},
		{"surrounding space", []string{" https://github.com/org/repo "}, "https://github.com/org/repo", true},
		{"star stops at slash", []string{"https://github.com/org/*"}, "https://github.com/org/group/repo", false},
		{"star within a segment", []string{"https://github.com/org/*"}, "https://github.com/org/repo", true},
		{"double star crosses slashes", []string{"https://github.com/org/**"}, "https://github.com/org/group/repo", true},
		{"star in host segment", []string{"https://*/org/repo"}, "https://gitlab.example.com/org/repo", true},
		{"question mark one character", []string{"https://github.com/org/repo?"}, "https://github.com/org/repo2", true},
		{"alternatives", []string{"https://github.com/{org,team}/repo"}, "https://github.com/team/repo", true},
		{"scp-like pattern matches scp-like URL", []string{"git@github.com:org/*"}, "git@github.com:org/repo.git", true},
		{"scp-like pattern matches ssh URL", []string{"git@github.com:org/repo"}, "ssh://git@github.com/org/repo", true},
		{"ssh pattern matches scp-like URL", []string{"ssh://git@github.com/org/*"}, "git@GitHub.com:org/repo", true},
		{"scp-like is not https", []string{"https://github.com/org/repo"}, "git@github.com:org/repo", false},
		{"ssh URL with port is kept", []string{"ssh://git@host:2222/org/*"}, "ssh://git@host:2222/org/repo.git", true},
		{"malformed pattern matches nothing", []string{"https://github.com/[org"}, "https://github.com/[org", false},
		{"deny after star refuses", []string{"*", "!https://github.com/bad/*"}, "https://github.com/bad/repo", false},
		{"deny after star permits others", []string{"*", "!https://github.com/bad/*"}, "https://github.com/good/repo", true},
		{"deny before star refuses too", []string{"!https://github.com/bad/*", "*"}, "https://github.com/bad/repo", false},
		{"deny normalizes its URL", []string{"*", "!git@github.com:bad/repo.git"}, "ssh://git@github.com/bad/repo", false},
		{"deny is case-insensitive", []string{"*", "!https://github.com/Bad/*"}, "https://github.com/bad/REPO", false},
		{"lone deny permits every other repo", []string{"!https://github.com/bad/*"}, "https://github.com/good/repo", true},
		{"lone deny refuses what it names", []string{"!https://github.com/bad/*"}, "https://github.com/bad/repo", false},
		{"deny star stops at slash", []string{"*", "!https://github.com/bad/*"}, "https://github.com/bad/group/repo", true},
		{"deny double star crosses slashes", []string{"*", "!https://github.com/bad/**"}, "https://github.com/bad/group/repo", false},
		{"malformed deny denies nothing", []string{"*", "!https://github.com/[bad"}, "https://github.com/[bad", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proj(v1alpha1.AppProjectSpec{SourceRepos: tt.repos})
			if got := SourcePermitted(p, tt.url); got != tt.want {
				t.Errorf("SourcePermitted(%q, %q) = %v, want %v", tt.repos, tt.url, got, tt.want)
			}
		})
	}
}

func TestNormalizeRepoURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://github.com/Org/Repo.git", "https://github.com/org/repo"},
		{"https://github.com/org/repo/", "https://github.com/org/repo"},
		{"https://github.com/org/repo.git/", "https://github.com/org/repo"},
		{"git@github.com:org/repo.git", "ssh://git@github.com/org/repo"},
		{"ssh://git@github.com:22/org/repo", "ssh://git@github.com:22/org/repo"},
		{"user@host/org/repo", "ssh://user@host/org/repo"},
		{"*", "*"},
		{"https://user@host/org/repo", "https://user@host/org/repo"},
	}
	for _, tt := range tests {
		if got := normalizeRepoURL(tt.in); got != tt.want {
			t.Errorf("normalizeRepoURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestSameRepo checks that entries the CLI calls duplicates are the ones
// SourcePermitted treats alike, and that a bare path is not a file:// URL
// to either (the project compares what users wrote).
func TestSameRepo(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://github.com/Org/Repo.git", "https://github.com/org/repo/", true},
		{"git@github.com:org/repo", "ssh://git@github.com/org/repo.git", true},
		{"!https://h/org/*", "!https://h/org/*/", true},
		{"!https://h/org/repo", "https://h/org/repo", false},
		{"/tmp/repo", "file:///tmp/repo", false},
		{"https://h/org/a", "https://h/org/b", false},
	}
	for _, tt := range tests {
		if got := SameRepo(tt.a, tt.b); got != tt.want {
			t.Errorf("SameRepo(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		p := &v1alpha1.AppProject{Spec: v1alpha1.AppProjectSpec{SourceRepos: []string{tt.a}}}
		if !strings.HasPrefix(tt.a, "!") && !strings.ContainsAny(tt.b, "!*") && tt.want != SourcePermitted(p, tt.b) {
			t.Errorf("SameRepo(%q, %q) = %v but SourcePermitted disagrees", tt.a, tt.b, tt.want)
		}
	}
}

func TestAppNamespacePermitted(t *testing.T) {
	tests := []struct {
		name    string
		sources []string
		ns      string
		want    bool
	}{
		{"empty namespace", nil, "", true},
		{"home namespace", nil, "ferry", true},
		{"no sourceNamespaces", nil, "team-a", false},
		{"exact", []string{"team-a"}, "team-a", true},
		{"exact other", []string{"team-a"}, "team-b", false},
		{"glob", []string{"team-*"}, "team-b", true},
		{"glob no match", []string{"team-*"}, "ops", false},
		{"star", []string{"*"}, "anything", true},
		{"second entry", []string{"ops", "team-?"}, "team-c", true},
		{"regexp", []string{"/^team-[a-c]$/"}, "team-b", true},
		{"anchored regexp refuses", []string{"/^team-[a-c]$/"}, "team-d", false},
		{"regexp is unanchored", []string{"/team/"}, "my-team-x", true},
		{"regexp is not a glob", []string{"/team-*/"}, "xteam", true},
		{"invalid regexp matches nothing", []string{"/team-(/"}, "team-(", false},
		{"lone slashes are a glob", []string{"//"}, "x", false},
		{"invalid glob matches only itself", []string{"team-["}, "team-[", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := proj(v1alpha1.AppProjectSpec{SourceNamespaces: tt.sources})
			if got := AppNamespacePermitted(p, tt.ns, "ferry"); got != tt.want {
				t.Errorf("AppNamespacePermitted(%q, %q) = %v, want %v", tt.sources, tt.ns, got, tt.want)
			}
		})
	}
}

func TestNamespaceServed(t *testing.T) {
	for _, c := range []struct {
		ns       string
		patterns []string
		want     bool
	}{
		{"argocd", nil, true},
		{"", nil, true},
		{"team-a", nil, false},
		{"team-a", []string{"team-*"}, true},
		{"team-a", []string{"team-b"}, false},
		{"apps-x", []string{"/^apps-/"}, true},
		{"my-apps-x", []string{"/^apps-/"}, false},
	} {
		if got := NamespaceServed(c.ns, "argocd", c.patterns); got != c.want {
			t.Errorf("NamespaceServed(%q, argocd, %q) = %v, want %v", c.ns, c.patterns, got, c.want)
		}
	}
}
