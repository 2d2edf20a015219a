package project

import (
	"strings"

	"github.com/gobwas/glob"
)

// globMatch is Argo CD's globMatch: a pattern starting with "!" (when
// negation is allowed) matches what the rest does not, "*" matches
// anything, and any other pattern is a gobwas glob whose '*' and '?' do not
// cross the separators. A pattern that does not compile matches nothing, so
// a negated one that does not compile matches everything, as in Argo CD.
func globMatch(pattern, val string, allowNegation bool, separators ...rune) bool {
	if allowNegation && isDenyPattern(pattern) {
		return !match(pattern[1:], val, separators...)
	}
	if pattern == "*" {
		return true
	}
	return match(pattern, val, separators...)
}

// match is Argo CD's glob.Match: a gobwas glob, false when the pattern does
// not compile.
func match(pattern, val string, separators ...rune) bool {
	g, err := glob.Compile(pattern, separators...)
	if err != nil {
		return false
	}
	return g.Match(val)
}

// isDenyPattern reports whether a project pattern denies what it names.
func isDenyPattern(pattern string) bool {
	return strings.HasPrefix(pattern, "!")
}
