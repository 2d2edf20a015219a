package policy

import (
	"slices"
	"strings"
	"testing"
)

// selectCase is one Select expectation: want is the chosen tag, or "" with
// ok=false when no tag is a candidate.
type selectCase struct {
	name   string
	choice Choice
	tags   []string
	want   string
	wantOK bool
}

// runSelect runs cases through Select with tags as given and reversed, so
// every expectation also proves the result does not depend on tag order.
func runSelect(t *testing.T, cases []selectCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reversed := slices.Clone(tc.tags)
			slices.Reverse(reversed)
			for _, tags := range [][]string{tc.tags, reversed} {
				got, ok, err := Select(tc.choice, tags)
				if err != nil {
					t.Fatalf("Select(%v) error: %v", tags, err)
				}
				if got != tc.want || ok != tc.wantOK {
					t.Errorf("Select(%v) = %q, %v; want %q, %v", tags, got, ok, tc.want, tc.wantOK)
				}
			}
		})
	}
}

func semverChoice(r string) Choice { return Choice{SemverRange: r} }

func TestSelectSemver(t *testing.T) {
	runSelect(t, []selectCase{
		{"example policy", semverChoice(">=1.0.0"), []string{"1.2.3", "1.2.4", "2.0.0-rc.1", "latest"}, "1.2.4", true},
		{"v prefixed", semverChoice(">=1.0.0"), []string{"v1.0.0", "v1.3.0", "v1.2.9"}, "v1.3.0", true},
		{"mixed prefixes compare as versions", semverChoice(">=1.0.0"), []string{"1.2.0", "v1.10.0", "1.9.0"}, "v1.10.0", true},
		{"short version", semverChoice(">=1.0.0"), []string{"1.2", "1.1.9"}, "1.2", true},
		{"tilde", semverChoice("~1.2"), []string{"1.1.9", "1.2.0", "1.2.9", "1.3.0"}, "1.2.9", true},
		{"caret", semverChoice("^1"), []string{"0.9.0", "1.0.0", "1.9.9", "2.0.0"}, "1.9.9", true},
		{"x range", semverChoice("1.x"), []string{"1.0.0", "1.5.1", "2.1.0"}, "1.5.1", true},
		{"less than excludes pre-release", semverChoice("<2.0.0"), []string{"1.9.9", "2.0.0-rc.1", "2.0.0", "3.0.0"}, "1.9.9", true},
		{"star excludes pre-release", semverChoice("*"), []string{"1.0.0", "1.1.0-alpha.1"}, "1.0.0", true},
		{"pre-release range includes rc", semverChoice(">=2.0.0-0"), []string{"1.9.0", "2.0.0-beta.3", "2.0.0-rc.1", "2.0.0-rc.2"}, "2.0.0-rc.2", true},
		{"pre-release range prefers release", semverChoice(">=2.0.0-0"), []string{"2.0.0-rc.2", "2.0.0", "1.9.9"}, "2.0.0", true},
		{"pre-release range allows later rc", semverChoice(">=2.0.0-0"), []string{"2.0.0-rc.2", "2.0.0", "2.0.1-rc.1"}, "2.0.1-rc.1", true},
		{"tie prefers lexically last", semverChoice(">=1.0.0"), []string{"1.2.3", "v1.2.3"}, "v1.2.3", true},
		{"metadata tie prefers lexically last", semverChoice(">=1.0.0"), []string{"1.2.3+b", "1.2.3+a"}, "1.2.3+b", true},
		{"only pre-releases", semverChoice(">=1.0.0"), []string{"1.0.0-rc.1", "2.0.0-rc.1"}, "", false},
		{"nothing in range", semverChoice(">=3.0.0"), []string{"1.0.0", "2.9.9"}, "", false},
		{"no valid versions", semverChoice("*"), []string{"latest", "main", ""}, "", false},
		{"no tags", semverChoice(">=1.0.0"), nil, "", false},
	})
}

func TestSelectAlphabetical(t *testing.T) {
	const pattern = `^RELEASE\.`
	releases := []string{
		"RELEASE.2026-01-02T03-04-05Z",
		"RELEASE.2025-12-31T23-59-59Z",
		"latest",
		"RELEASE.2026-01-02T03-04-06Z",
	}
	runSelect(t, []selectCase{
		{"default is asc", Choice{Alphabetical: true, FilterPattern: pattern}, releases, "RELEASE.2026-01-02T03-04-06Z", true},
		{"asc", Choice{Alphabetical: true, AlphabeticalOrder: "asc", FilterPattern: pattern}, releases, "RELEASE.2026-01-02T03-04-06Z", true},
		{"desc", Choice{Alphabetical: true, AlphabeticalOrder: "desc", FilterPattern: pattern}, releases, "RELEASE.2025-12-31T23-59-59Z", true},
		{"without filter every tag competes", Choice{Alphabetical: true}, releases, "latest", true},
		{"byte order", Choice{Alphabetical: true}, []string{"a", "B", "Z"}, "a", true},
		{"tie on extracted value asc", Choice{Alphabetical: true, FilterPattern: `^(?P<ts>[0-9]+)-`, FilterExtract: "$ts"}, []string{"5-a", "5-b", "4-z"}, "5-b", true},
		{"tie on extracted value desc", Choice{Alphabetical: true, AlphabeticalOrder: "desc", FilterPattern: `^(?P<ts>[0-9]+)-`, FilterExtract: "$ts"}, []string{"4-a", "4-b", "5-z"}, "4-b", true},
		{"no tags", Choice{Alphabetical: true}, nil, "", false},
	})
}

func TestSelectNumerical(t *testing.T) {
	ints := []string{"1", "10", "9", "2"}
	floats := []string{"1.5", "1.25", "1.10"}
	runSelect(t, []selectCase{
		{"default is asc", Choice{Numerical: true}, ints, "10", true},
		{"ints asc", Choice{Numerical: true, NumericalOrder: "asc"}, ints, "10", true},
		{"ints desc", Choice{Numerical: true, NumericalOrder: "desc"}, ints, "1", true},
		{"floats asc", Choice{Numerical: true, NumericalOrder: "asc"}, floats, "1.5", true},
		{"floats desc", Choice{Numerical: true, NumericalOrder: "desc"}, floats, "1.10", true},
		{"negative desc", Choice{Numerical: true, NumericalOrder: "desc"}, []string{"0", "-1", "5"}, "-1", true},
		{"non-numbers ignored", Choice{Numerical: true}, []string{"latest", "3", "abc", "2", "1.2.3", "v4"}, "3", true},
		{"non-finite ignored asc", Choice{Numerical: true}, []string{"NaN", "Inf", "1", "-Inf", "infinity"}, "1", true},
		{"non-finite ignored desc", Choice{Numerical: true, NumericalOrder: "desc"}, []string{"NaN", "-Inf", "2", "3"}, "2", true},
		{"tie prefers lexically last", Choice{Numerical: true}, []string{"1", "1.0", "01"}, "1.0", true},
		{"only non-numbers", Choice{Numerical: true}, []string{"latest", "main"}, "", false},
	})
}

func TestSelectFilterTags(t *testing.T) {
	mainTags := []string{
		"main-abc123-1700000000",
		"main-def456-1700000100",
		"feature-aaa-1800000000",
		"main-zzz-1900000000", // not hex: no match
		"main-0a0a0a-999",
		"latest",
	}
	const mainPattern = `^main-[a-f0-9]+-(?P<ts>[0-9]+)`
	runSelect(t, []selectCase{
		{"named capture numerical", Choice{Numerical: true, FilterPattern: mainPattern, FilterExtract: "$ts"}, mainTags, "main-def456-1700000100", true},
		{"braced named capture", Choice{Numerical: true, FilterPattern: mainPattern, FilterExtract: "${ts}"}, mainTags, "main-def456-1700000100", true},
		{"named capture numerical desc", Choice{Numerical: true, NumericalOrder: "desc", FilterPattern: mainPattern, FilterExtract: "$ts"}, mainTags, "main-0a0a0a-999", true},
		{"numbered capture alphabetical compares extracted value", Choice{Alphabetical: true, FilterPattern: `^main-[a-f0-9]+-([0-9]+)`, FilterExtract: "$1"}, mainTags, "main-0a0a0a-999", true},
		{"numbered capture semver", Choice{SemverRange: ">=1.0.0", FilterPattern: `^v(\d+\.\d+\.\d+)-prod$`, FilterExtract: "$1"},
			[]string{"v1.0.0-prod", "v1.2.0-prod", "v2.0.0-staging", "v1.10.0-prod", "v3.0.0-prod-hotfix"}, "v1.10.0-prod", true},
		{"extract with literal text", Choice{SemverRange: "^2", FilterPattern: `^release-(?P<major>\d+)-(?P<minor>\d+)$`, FilterExtract: "${major}.${minor}.0"},
			[]string{"release-1-9", "release-2-3", "release-2-10", "release-3-0"}, "release-2-10", true},
		{"pattern without extract filters only", Choice{SemverRange: ">=0.0.0", FilterPattern: `^v1\.`}, []string{"v1.2.0", "v1.9.0", "v2.0.0"}, "v1.9.0", true},
		{"pattern is unanchored", Choice{Alphabetical: true, FilterPattern: `-prod`}, []string{"a-prod", "b-prod-x", "c-staging"}, "b-prod-x", true},
		{"filter drops everything", Choice{Numerical: true, FilterPattern: mainPattern, FilterExtract: "$ts"}, []string{"latest", "feature-aaa-1"}, "", false},
		{"extracted non-number ignored", Choice{Numerical: true, FilterPattern: `^build-(\w+)$`, FilterExtract: "$1"}, []string{"build-12", "build-x9", "build-7"}, "build-12", true},
	})
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name      string
		choice    Choice
		wantField string // "" when the choice is valid
	}{
		{"semver", Choice{SemverRange: ">=1.0.0"}, ""},
		{"alphabetical default order", Choice{Alphabetical: true}, ""},
		{"alphabetical desc", Choice{Alphabetical: true, AlphabeticalOrder: "desc"}, ""},
		{"numerical asc", Choice{Numerical: true, NumericalOrder: "asc"}, ""},
		{"named extract", Choice{Numerical: true, FilterPattern: `(?P<ts>\d+)`, FilterExtract: "$ts"}, ""},
		{"angle named extract", Choice{Numerical: true, FilterPattern: `(?<ts>\d+)`, FilterExtract: "${ts}"}, ""},
		{"whole match extract", Choice{Alphabetical: true, FilterPattern: `x`, FilterExtract: "$0"}, ""},
		{"literal dollar", Choice{Alphabetical: true, FilterPattern: `(x)`, FilterExtract: "$$$1$$"}, ""},
		{"malformed reference is literal", Choice{Alphabetical: true, FilterPattern: `x`, FilterExtract: "${ts-$"}, ""},
		{"no policy", Choice{}, "policy"},
		{"semver and alphabetical", Choice{SemverRange: "*", Alphabetical: true}, "policy"},
		{"alphabetical and numerical", Choice{Alphabetical: true, Numerical: true}, "policy"},
		{"all three", Choice{SemverRange: "*", Alphabetical: true, Numerical: true}, "policy"},
		{"invalid range", Choice{SemverRange: "not-a-range"}, "policy.semver.range"},
		{"invalid alphabetical order", Choice{Alphabetical: true, AlphabeticalOrder: "ascending"}, "policy.alphabetical.order"},
		{"invalid numerical order", Choice{Numerical: true, NumericalOrder: "DESC"}, "policy.numerical.order"},
		{"order for unselected policy", Choice{Numerical: true, AlphabeticalOrder: "desc"}, "policy.alphabetical.order"},
		{"invalid regexp", Choice{Alphabetical: true, FilterPattern: `(`}, "filterTags.pattern"},
		{"missing named group", Choice{Numerical: true, FilterPattern: `(\d+)`, FilterExtract: "$ts"}, "filterTags.extract"},
		{"missing braced group", Choice{Numerical: true, FilterPattern: `(?P<t>\d+)`, FilterExtract: "${ts}"}, "filterTags.extract"},
		{"group number out of range", Choice{Numerical: true, FilterPattern: `(\d+)`, FilterExtract: "$2"}, "filterTags.extract"},
		{"extract without pattern", Choice{Numerical: true, FilterExtract: "$1"}, "filterTags.extract"},
		{"leading zero is a name", Choice{Numerical: true, FilterPattern: `(\d+)`, FilterExtract: "$01"}, "filterTags.extract"},
		{"second reference missing", Choice{Numerical: true, FilterPattern: `(?P<a>\d+)`, FilterExtract: "$a-$b"}, "filterTags.extract"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.choice.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.wantField+":") {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tc.wantField)
			}
			tag, ok, selErr := Select(tc.choice, []string{"1.0.0", "1"})
			if selErr == nil || selErr.Error() != err.Error() || tag != "" || ok {
				t.Errorf("Select() = %q, %v, %v; want Validate's error %v", tag, ok, selErr, err)
			}
		})
	}
}

func TestValidateJoinsProblems(t *testing.T) {
	err := Choice{SemverRange: "nope", FilterPattern: "("}.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want an error")
	}
	for _, field := range []string{"policy.semver.range:", "filterTags.pattern:"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("Validate() = %v, want it to name %s", err, field)
		}
	}
}

func TestTemplateRefs(t *testing.T) {
	cases := []struct {
		tmpl string
		want []groupRef
	}{
		{"", nil},
		{"plain", nil},
		{"$ts", []groupRef{{"ts", -1}}},
		{"${ts}x", []groupRef{{"ts", -1}}},
		{"$tsx", []groupRef{{"tsx", -1}}},
		{"$1", []groupRef{{"1", 1}}},
		{"${1}0", []groupRef{{"1", 1}}},
		{"$10", []groupRef{{"10", 10}}},
		{"$01", []groupRef{{"01", -1}}},
		{"$0", []groupRef{{"0", 0}}},
		{"$1x", []groupRef{{"1x", -1}}},
		{"$123456789", []groupRef{{"123456789", 123456789}}},
		{"$1234567890", []groupRef{{"1234567890", -1}}},
		{"$a.$b-${c}", []groupRef{{"a", -1}, {"b", -1}, {"c", -1}}},
		{"$$ts", nil},
		{"$$$ts", []groupRef{{"ts", -1}}},
		{"$", nil},
		{"${ts", nil},
		{"${}", nil},
		{"$-$x", []groupRef{{"x", -1}}},
	}
	for _, tc := range cases {
		if got := templateRefs(tc.tmpl); !slices.Equal(got, tc.want) {
			t.Errorf("templateRefs(%q) = %v, want %v", tc.tmpl, got, tc.want)
		}
	}
}
