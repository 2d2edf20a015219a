// Package policy selects the latest image tag from a list of tags the way
// Flux's image-reflector-controller evaluates an ImagePolicy
// (image.toolkit.fluxcd.io): spec.filterTags narrows and optionally rewrites
// the tags, then one of the semver, alphabetical or numerical policies picks
// a single tag.
//
// The package is pure: it performs no I/O and keeps no state.
package policy

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"
)

// Order values accepted by the alphabetical and numerical policies.
const (
	// OrderAsc chooses the last value in ascending order (the greatest).
	OrderAsc = "asc"
	// OrderDesc chooses the last value in descending order (the smallest).
	OrderDesc = "desc"
)

// Choice is a policy as ImagePolicy.spec.policy and spec.filterTags state it.
type Choice struct {
	SemverRange             string // policy.semver.range, e.g. ">=1.0.0"
	AlphabeticalOrder       string // policy.alphabetical.order: "asc" (default when alphabetical set) or "desc"
	NumericalOrder          string // policy.numerical.order: "asc" (default) or "desc"
	Alphabetical, Numerical bool   // which policy is set (exactly one of semver/alphabetical/numerical)
	FilterPattern           string // filterTags.pattern, a Go regexp
	FilterExtract           string // filterTags.extract, e.g. "$ts" (named capture) or "$1"; empty means the whole tag
}

// Validate returns an error naming the field when the choice is malformed:
// no policy or more than one, an invalid semver range, an invalid regexp, an
// extract that names a group the pattern lacks, or an order other than asc
// or desc. All problems found are joined into the returned error.
func (c Choice) Validate() error {
	return errors.Join(c.validatePolicy(), c.validateFilter())
}

// Select returns the chosen tag among tags: the full original tag, not the
// value extracted by filterTags. ok is false, with a nil error, when no tag
// is a candidate. Tags that do not match the filter, are not valid semver
// (semver policy) or are not finite numbers (numerical policy) are ignored.
// Select returns Validate's error when the choice is malformed.
//
// When several candidates rank equal (e.g. "1.2.3" and "v1.2.3", or two tags
// whose extracted values are the same) the lexically greatest original tag
// wins, so the result does not depend on the order of tags.
func Select(c Choice, tags []string) (tag string, ok bool, err error) {
	if err := c.Validate(); err != nil {
		return "", false, err
	}
	cands := c.filter(tags)
	switch {
	case c.Alphabetical:
		tag, ok = latest(cands, alphabeticalKey, orderCompare[string](c.AlphabeticalOrder))
	case c.Numerical:
		tag, ok = latest(cands, numericalKey, orderCompare[float64](c.NumericalOrder))
	default:
		tag, ok = latest(cands, semverKey(c.mustConstraint()), (*semver.Version).Compare)
	}
	return tag, ok, nil
}

// validatePolicy checks that exactly one policy is set and that its
// parameters are valid.
func (c Choice) validatePolicy() error {
	set := 0
	for _, b := range []bool{c.SemverRange != "", c.Alphabetical, c.Numerical} {
		if b {
			set++
		}
	}
	if set != 1 {
		return fmt.Errorf("policy: exactly one of semver, alphabetical or numerical must be set, got %d", set)
	}
	return errors.Join(
		c.validateRange(),
		validateOrder("policy.alphabetical.order", c.AlphabeticalOrder, c.Alphabetical),
		validateOrder("policy.numerical.order", c.NumericalOrder, c.Numerical),
	)
}

// validateRange checks policy.semver.range when the semver policy is set.
func (c Choice) validateRange() error {
	if c.SemverRange == "" {
		return nil
	}
	if _, err := semver.NewConstraint(c.SemverRange); err != nil {
		return fmt.Errorf("policy.semver.range: invalid range %q: %w", c.SemverRange, err)
	}
	return nil
}

// validateOrder checks an order field; an order given for a policy that is
// not set is rejected, since the CRD nests the order inside its policy.
func validateOrder(field, order string, set bool) error {
	switch {
	case order != "" && !set:
		return fmt.Errorf("%s: set to %q but its policy is not selected", field, order)
	case order != "" && order != OrderAsc && order != OrderDesc:
		return fmt.Errorf("%s: must be %q or %q, got %q", field, OrderAsc, OrderDesc, order)
	}
	return nil
}

// validateFilter checks filterTags.pattern and filterTags.extract.
func (c Choice) validateFilter() error {
	re, err := regexp.Compile(c.FilterPattern)
	if err != nil {
		return fmt.Errorf("filterTags.pattern: invalid regexp %q: %w", c.FilterPattern, err)
	}
	for _, ref := range templateRefs(c.FilterExtract) {
		if !hasGroup(re, ref) {
			return fmt.Errorf("filterTags.extract: %q refers to group %q that filterTags.pattern %q lacks",
				c.FilterExtract, ref.name, c.FilterPattern)
		}
	}
	return nil
}

// mustConstraint parses the semver range of a validated choice.
func (c Choice) mustConstraint() *semver.Constraints {
	cs, err := semver.NewConstraint(c.SemverRange)
	if err != nil {
		panic(fmt.Sprintf("policy: range %q passed Validate but does not parse: %v", c.SemverRange, err))
	}
	return cs
}

// candidate is a tag that passed filterTags together with the value the
// policy compares.
type candidate struct {
	tag, value string
}

// filter applies filterTags to tags of a validated choice. Without a pattern
// every tag is a candidate whose value is the tag itself.
func (c Choice) filter(tags []string) []candidate {
	re := regexp.MustCompile(c.FilterPattern)
	cands := make([]candidate, 0, len(tags))
	for _, tag := range tags {
		m := re.FindStringSubmatchIndex(tag)
		if m == nil {
			continue
		}
		value := tag
		if c.FilterExtract != "" {
			value = string(re.ExpandString(nil, c.FilterExtract, tag, m))
		}
		cands = append(cands, candidate{tag: tag, value: value})
	}
	return cands
}

// latest returns the tag of the candidate with the greatest key under
// compare, skipping candidates key rejects. Ties go to the lexically
// greatest tag.
func latest[K any](cands []candidate, key func(string) (K, bool), compare func(a, b K) int) (string, bool) {
	var (
		best    candidate
		bestKey K
		found   bool
	)
	for _, cand := range cands {
		k, ok := key(cand.value)
		if !ok {
			continue
		}
		if !found || beats(compare(k, bestKey), cand.tag, best.tag) {
			best, bestKey, found = cand, k, true
		}
	}
	return best.tag, found
}

// beats reports whether a candidate ranked c against the current best
// replaces it, breaking ties by the lexical order of the original tags.
func beats(c int, tag, bestTag string) bool {
	return c > 0 || (c == 0 && tag > bestTag)
}

// semverKey parses a value as a version and keeps it when it satisfies cs.
func semverKey(cs *semver.Constraints) func(string) (*semver.Version, bool) {
	return func(value string) (*semver.Version, bool) {
		v, err := semver.NewVersion(value)
		if err != nil || !cs.Check(v) {
			return nil, false
		}
		return v, true
	}
}

// alphabeticalKey accepts every value as is.
func alphabeticalKey(value string) (string, bool) {
	return value, true
}

// numericalKey parses a value as a finite float64.
func numericalKey(value string) (float64, bool) {
	f, err := strconv.ParseFloat(value, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// orderCompare returns the comparison under which the chosen value is the
// greatest: natural order for asc (and the default), reversed for desc.
func orderCompare[T cmp.Ordered](order string) func(a, b T) int {
	if order == OrderDesc {
		return func(a, b T) int { return cmp.Compare(b, a) }
	}
	return cmp.Compare[T]
}

// groupRef is one $name, ${name}, $n or ${n} reference in an extract
// template; num is -1 for a named reference.
type groupRef struct {
	name string
	num  int
}

// hasGroup reports whether re has the group ref refers to.
func hasGroup(re *regexp.Regexp, ref groupRef) bool {
	if ref.num >= 0 {
		return ref.num <= re.NumSubexp()
	}
	for _, n := range re.SubexpNames() {
		if n != "" && n == ref.name {
			return true
		}
	}
	return false
}

// templateRefs lists the group references in an extract template, parsing
// it as regexp.Expand does: "$$" is a literal dollar and a malformed
// reference is literal text.
func templateRefs(tmpl string) []groupRef {
	var refs []groupRef
	for {
		_, after, found := strings.Cut(tmpl, "$")
		if !found {
			return refs
		}
		if strings.HasPrefix(after, "$") {
			tmpl = after[1:]
			continue
		}
		ref, rest, ok := parseRef(after)
		if ok {
			refs = append(refs, ref)
		}
		tmpl = rest
	}
}

// parseRef reads a leading "name" or "{name}" (the "$" already removed) and
// returns the reference and the remaining template, mirroring the rules of
// regexp.Expand. ok is false when no reference starts there.
func parseRef(s string) (ref groupRef, rest string, ok bool) {
	body, brace := strings.CutPrefix(s, "{")
	i := 0
	for i < len(body) {
		r, size := utf8.DecodeRuneInString(body[i:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '_' {
			break
		}
		i += size
	}
	if i == 0 {
		return groupRef{}, s, false
	}
	name, rest := body[:i], body[i:]
	if brace {
		var closed bool
		if rest, closed = strings.CutPrefix(rest, "}"); !closed {
			return groupRef{}, s, false
		}
	}
	return groupRef{name: name, num: groupNumber(name)}, rest, true
}

// groupNumber returns the group index a reference name denotes, or -1 when
// it is a group name; like regexp.Expand it rejects leading zeros and
// numbers of 1e8 or more.
func groupNumber(name string) int {
	if len(name) > 1 && name[0] == '0' {
		return -1
	}
	num := 0
	for i := 0; i < len(name); i++ {
		if name[i] < '0' || name[i] > '9' || num >= 1e8 {
			return -1
		}
		num = num*10 + int(name[i]-'0')
	}
	return num
}
