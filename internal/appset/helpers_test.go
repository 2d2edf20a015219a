package appset

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

const repoURL = "https://git.example.com/platform.git"

// fakeRepo serves one repository from memory; Files matches globs with path.Match.
type fakeRepo struct {
	dirs  []string
	files map[string]string
}

func (f fakeRepo) Dirs(_ context.Context, url, revision string) ([]string, error) {
	if url != repoURL {
		return nil, fmt.Errorf("unknown repository %s", url)
	}
	return f.dirs, nil
}

func (f fakeRepo) Files(_ context.Context, url, revision, glob string) (map[string][]byte, error) {
	if url != repoURL {
		return nil, fmt.Errorf("unknown repository %s", url)
	}
	out := map[string][]byte{}
	for name, data := range f.files {
		if ok, _ := path.Match(glob, name); ok {
			out[name] = []byte(data)
		}
	}
	return out, nil
}

// testRepo is the repository most tests read.
var testRepo = fakeRepo{
	dirs: []string{
		"apps", "apps/web", "apps/api", "apps/web/assets", "apps/legacy", "apps/My_App",
		"envs", "envs/prod", "envs/staging", "bad",
	},
	files: map[string]string{
		"envs/prod/config.json":    `{"env": "prod", "replicas": 3, "region": {"name": "eu-west"}}`,
		"envs/staging/config.yaml": "env: staging\nreplicas: 1\nregion:\n  name: us-east\n",
		"envs/qa/config.yaml":      "- env: qa1\n  replicas: 1\n- env: qa2\n  replicas: 2\n",
		"envs/old/config.yaml":     "env: old\n",
		"envs/empty/config.yaml":   "",
		"envs/prod/README.md":      "# not matched",
		"bad/config.yaml":          "- 1\n- 2\n",
	},
}

// exampleClusters is the example cluster registry.
var exampleClusters = []Cluster{
	{Name: "prod-us-east", Server: "https://prod-us-east.example.com",
		Labels: map[string]string{"environment": "production", "region": "us-east"}},
	{Name: "prod-eu-west", Server: "https://prod-eu-west.example.com",
		Labels: map[string]string{"environment": "production", "region": "eu-west"}},
	{Name: "staging-1", Server: "https://staging-1.example.com",
		Labels: map[string]string{"environment": "staging"}},
}

// parseGens decodes spec.generators written as YAML, the way the CRD will be decoded.
func parseGens(t *testing.T, text string) []Generator {
	t.Helper()
	var gens []Generator
	if err := yaml.Unmarshal([]byte(text), &gens); err != nil {
		t.Fatalf("parsing generators: %v", err)
	}
	return gens
}

// parseValue decodes a YAML document into JSON-compatible values.
func parseValue(t *testing.T, text string) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		t.Fatalf("parsing %q: %v", text, err)
	}
	return v
}

// canonical is v after a JSON round trip, so map[string]string and map[string]any compare equal
// (types of scalars still count: "3" is not 3).
func canonical(t *testing.T, v any) any {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return out
}

// wantYAML compares got with the YAML document want.
func wantYAML(t *testing.T, got any, want string) {
	t.Helper()
	if !reflect.DeepEqual(canonical(t, got), canonical(t, parseValue(t, want))) {
		text, _ := yaml.Marshal(got)
		t.Errorf("got:\n%s\nwant:\n%s", text, strings.TrimLeft(want, "\n"))
	}
}

// wantError checks that err is not nil and contains every fragment.
func wantError(t *testing.T, err error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", fragments)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}
