package chartrepo

import (
	"strings"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	repo "helm.sh/helm/v4/pkg/repo/v1"
	"sigs.k8s.io/yaml"
)

// TestPickAgreesWithHelm checks that the version chosen for a constraint
// is the one Helm's IndexFile.Get chooses, on an index Helm wrote.
func TestPickAgreesWithHelm(t *testing.T) {
	versions := []string{"0.9.0", "1.0.0", "1.0.0+build.2", "1.2.0", "1.2.5", "1.3.0-rc.1", "1.10.0", "2.0.0-beta.1", "2.0.0", "v3.0.0"}
	idx := repo.NewIndexFile()
	for _, v := range versions {
		md := &chart.Metadata{APIVersion: chart.APIVersionV2, Name: "app", Version: v}
		if err := idx.MustAdd(md, "app-"+v+".tgz", "", "sha256:0"); err != nil {
			t.Fatal(err)
		}
	}
	idx.SortEntries()
	data, err := yaml.Marshal(idx)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := parseIndex(data)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{
		"", "*", "1.2.*", "1.x", ">=1.0.0 <2.0.0", "^1.2", "~1.2.0", "^1", "1.0.0", "1.0.0+build.2", "1.3.0-rc.1",
		">=1.3.0-0", "2.0.0-beta.1", ">=2.0.0-0", "<1.0.0", "v3.0.0", "3.0.0", "^3", ">=1.0.0 <1.1.0 || >=2.0.0", "=1.2.5", "!=2.0.0",
		">=9", "1.2.3.4", "1.0.0 - 1.2.0",
	} {
		want, herr := idx.Get("app", c)
		con, cerr := newConstraint(c)
		var got chartVersion
		ok := false
		if cerr == nil {
			got, ok = cat.charts["app"].pick(con)
		}
		switch {
		case herr != nil && (cerr != nil || !ok):
		case herr != nil:
			t.Errorf("constraint %q: Helm finds none (%v), Ferry picks %s", c, herr, got.version)
		case cerr != nil || !ok:
			t.Errorf("constraint %q: Helm picks %s, Ferry none (%v)", c, want.Version, cerr)
		case got.version != want.Version:
			t.Errorf("constraint %q: Helm picks %s, Ferry %s", c, want.Version, got.version)
		}
	}
}

func TestParseIndex(t *testing.T) {
	cat, err := parseIndex([]byte(`apiVersion: v1
entries:
  app:
  - name: app
    version: 1.0.0
    urls: [app-1.0.0.tgz]
    digest: abc
    annotations: {unknown: field}
    someNewField: true
  - name: app
    version: not-semver
  - null
  - version: 2.0.0
generated: "2026-01-01T00:00:00Z"
`))
	if err != nil {
		t.Fatal(err)
	}
	vs := cat.charts["app"]
	if len(vs) != 1 || vs[0].version != "1.0.0" || vs[0].digest != "abc" || vs[0].urls[0] != "app-1.0.0.tgz" {
		t.Errorf("parsed %+v; want the one valid entry", vs)
	}
	for _, bad := range []string{"", "  \n", "<html>oops</html>", "entries: {}", "apiVersion: [", "[1,2]"} {
		if _, err := parseIndex([]byte(bad)); err == nil {
			t.Errorf("parseIndex(%q) succeeded", bad)
		}
	}
	if _, err := parseIndex([]byte(`{"apiVersion":"v1","entries":{"a":[{"name":"a","version":"1.0.0"}]}}`)); err != nil {
		t.Errorf("JSON index: %v", err)
	}
}

// FuzzParseIndex checks that an index from an untrusted server never
// panics the parser and yields sorted, parsed versions.
func FuzzParseIndex(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nentries:\n  a:\n  - name: a\n    version: 1.0.0\n"))
	f.Add([]byte(`{"apiVersion":"v1","entries":{"a":[null,{"name":"a","version":"v2"}]}}`))
	f.Add([]byte("apiVersion: v1\nentries:\n  a: [{name: a, version: '1.0.0-rc.1+x'}, {name: a, version: 0.1}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cat, err := parseIndex(data)
		if err != nil {
			return
		}
		for name, vs := range cat.charts {
			for i, v := range vs {
				if v.semver == nil || strings.TrimSpace(v.version) == "" {
					t.Fatalf("chart %s: entry %d unparsed", name, i)
				}
				if i > 0 && vs[i-1].semver.LessThan(v.semver) {
					t.Fatalf("chart %s: not newest first", name)
				}
			}
		}
	})
}
