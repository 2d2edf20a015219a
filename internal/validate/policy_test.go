package validate

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestPolicies: conftest's rule names and message shapes, in Rego v1 and v0
// syntax, and packages other than main only when asked for.
func TestPolicies(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"v1.rego": `package main

deny contains msg if {
	input.kind == "Deployment"
	not input.spec.replicas
	msg := "replicas not set"
}

warn_image contains {"msg": "image from the old registry"} if {
	some c in input.spec.template.spec.containers
	startswith(c.image, "old.example.com/")
}

helper := true
`,
		"v0.rego": `package main

violation[msg] {
	input.metadata.name == "forbidden"
	msg := "this name is taken"
}
`,
		"other.rego": `package team.rules

deny contains "team rule" if { input.kind == "Deployment" }
`,
		"ignored_test.rego": `package main

test_nothing if { true }
`,
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	obj := map[string]any{"kind": "Deployment", "metadata": map[string]any{"name": "forbidden"},
		"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"image": "old.example.com/app:1"}}}}}}

	p, err := LoadPolicies(t.Context(), []string{dir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := describeResults(t, p, obj)
	want := []string{"error main.deny replicas not set", "error main.violation this name is taken", "warning main.warn_image image from the old registry"}
	if !slices.Equal(got, want) {
		t.Errorf("package main: %q, want %q", got, want)
	}
	p, err = LoadPolicies(t.Context(), []string{dir}, []string{"team.rules"})
	if err != nil {
		t.Fatal(err)
	}
	if got := describeResults(t, p, obj); !slices.Equal(got, []string{"error team.rules.deny team rule"}) {
		t.Errorf("package team.rules: %q", got)
	}
	if got := describeResults(t, p, map[string]any{"kind": "ConfigMap"}); len(got) != 0 {
		t.Errorf("clean object: %q", got)
	}

	if err := os.WriteFile(filepath.Join(dir, "broken.rego"), []byte("package main\n\ndeny contains msg if {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadPolicies(t.Context(), []string{dir}, nil); err == nil || !strings.Contains(err.Error(), "broken.rego:4") {
		t.Errorf("broken policy: err = %v, want the file and line", err)
	}
}

func describeResults(t *testing.T, p *Policies, obj map[string]any) []string {
	t.Helper()
	res, err := p.Evaluate(t.Context(), obj)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res {
		out = append(out, string(r.Severity)+" "+r.Rule+" "+r.Message)
	}
	return out
}
