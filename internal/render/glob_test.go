package render

import (
	"errors"
	"testing"
)

func TestCompileGlob(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"*.yaml", []string{"a.yaml", "sub/a.yaml", ".yaml"}, []string{"a.yml", "a.yaml.bak"}},
		{"{config.json,skip.yaml}", []string{"config.json", "skip.yaml"}, []string{"sub/config.json", "config.jsonx", "skip"}},
		{"sub/*", []string{"sub/a.yaml", "sub/deeper/b.yaml"}, []string{"a.yaml", "subx/a.yaml"}},
		{"**/*.json", []string{"sub/a.json", "a/b/c.json"}, []string{"a.json"}},
		{"?.yaml", []string{"a.yaml"}, []string{"ab.yaml"}},
		{"[ab].yaml", []string{"a.yaml", "b.yaml"}, []string{"c.yaml"}},
		{"[!ab].yaml", []string{"c.yaml"}, []string{"a.yaml"}},
		{"[a-c]*", []string{"b.yaml"}, []string{"d.yaml"}},
		{"{a,b{c,d}}.yaml", []string{"a.yaml", "bc.yaml", "bd.yaml"}, []string{"b.yaml"}},
		{`\*.yaml`, []string{"*.yaml"}, []string{"a.yaml"}},
		{"a+(b).yaml", []string{"a+(b).yaml"}, []string{"aab.yaml"}},
		{"{,x}.yaml", []string{".yaml", "x.yaml"}, nil},
	}
	for _, tt := range tests {
		re, err := compileGlob(tt.pattern)
		if err != nil {
			t.Errorf("compileGlob(%q): %v", tt.pattern, err)
			continue
		}
		for _, s := range tt.match {
			if !re.MatchString(s) {
				t.Errorf("%q does not match %q", tt.pattern, s)
			}
		}
		for _, s := range tt.noMatch {
			if re.MatchString(s) {
				t.Errorf("%q matches %q", tt.pattern, s)
			}
		}
	}
	for _, bad := range []string{"{a,b", "[ab", "a\\", "[z-a]"} {
		if _, err := compileGlob(bad); !errors.Is(err, ErrInvalidSource) {
			t.Errorf("compileGlob(%q) error = %v, want ErrInvalidSource", bad, err)
		}
	}
}

// FuzzCompileGlob: include/exclude patterns come from Application specs and must never panic.
func FuzzCompileGlob(f *testing.F) {
	for _, s := range []string{"*.yaml", "{a,b{c,d}}", "[!a-z]", `\`, "[", "{", "}", "[]]", "{{{{{{{{"} {
		f.Add(s, "sub/a.yaml")
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		re, err := compileGlob(pattern)
		if err == nil {
			re.MatchString(name)
		}
	})
}
