package project

import (
	"regexp"
	"strings"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// SourcePermitted reports whether the project's sourceRepos let an
// Application deploy from repoURL.
//
// The URL and every pattern are normalized alike (see normalizeRepoURL), and
// '*' in a pattern stops at '/' while "**" crosses it. As in Argo CD, a
// pattern that matches permits, and a deny pattern ("!...") that does not
// match (that is, whose negated part does match) refuses outright. A list of
// only deny patterns therefore permits every repository it does not deny:
// each "!X" matches every URL but X.
func SourcePermitted(p *v1alpha1.AppProject, repoURL string) bool {
	url := normalizeRepoURL(repoURL)
	anyMatched := false
	for _, pattern := range p.Spec.SourceRepos {
		if isDenyPattern(pattern) {
			pattern = "!" + normalizeRepoURL(pattern[1:])
		} else {
			pattern = normalizeRepoURL(pattern)
		}
		if globMatch(pattern, url, true, '/') {
			anyMatched = true
		} else if isDenyPattern(pattern) {
			return false
		}
	}
	return anyMatched
}

// scpLikeURL matches Git's scp-like syntax, user@host:path, the way Argo CD
// recognises SSH URLs: a user part without '/' or ':' before the '@'.
var scpLikeURL = regexp.MustCompile(`^[^/:]*@[^@]+$`)

// normalizeRepoURL spells a repository URL, or a pattern for one, the way
// Argo CD compares them: lower case, without surrounding space, a trailing
// "/" or ".git", and with scp-like "git@host:org/repo" rewritten as
// "ssh://git@host/org/repo".
func normalizeRepoURL(u string) string {
	u = strings.ToLower(strings.TrimSpace(u))
	if !strings.Contains(u, "://") && scpLikeURL.MatchString(u) {
		u = "ssh://" + strings.Replace(u, ":", "/", 1)
	}
	u = strings.TrimRight(u, "/")
	u = strings.TrimSuffix(u, ".git")
	return strings.TrimRight(u, "/")
}

// SameRepo reports whether two sourceRepos entries name the same
// repositories as SourcePermitted compares them; a negated entry ("!url")
// is only the same as another negated one. The CLI uses it so that what
// `proj add-source` calls a duplicate is what enforcement treats as one.
func SameRepo(a, b string) bool {
	if isDenyPattern(a) != isDenyPattern(b) {
		return false
	}
	return normalizeRepoURL(strings.TrimPrefix(a, "!")) == normalizeRepoURL(strings.TrimPrefix(b, "!"))
}

// AppNamespacePermitted reports whether an Application living in
// appNamespace may use the project, home being the namespace of Ferry's
// own Applications (always permitted, as is an empty namespace).
//
// Otherwise a sourceNamespaces entry must name it: exactly, as a regular
// expression when the entry is wrapped in slashes ("/^team-.*$/", matched
// unanchored, as Argo CD's glob.REGEXP mode does), or else as a glob.
func AppNamespacePermitted(p *v1alpha1.AppProject, appNamespace, home string) bool {
	return NamespaceServed(appNamespace, home, p.Spec.SourceNamespaces)
}

// NamespaceServed reports whether namespace is home (or empty) or named by
// one of patterns, read as sourceNamespaces entries are: exactly, "/regexp/",
// or a glob. Controllers use it for --application-namespaces, projects for
// sourceNamespaces.
func NamespaceServed(namespace, home string, patterns []string) bool {
	if namespace == "" || namespace == home {
		return true
	}
	appNamespace := namespace
	for _, entry := range patterns {
		if entry == appNamespace {
			return true
		}
		if len(entry) > 2 && strings.HasPrefix(entry, "/") && strings.HasSuffix(entry, "/") {
			if ok, err := regexp.MatchString(entry[1:len(entry)-1], appNamespace); ok && err == nil {
				return true
			}
			continue
		}
		if match(entry, appNamespace) {
			return true
		}
	}
	return false
}
