package validate

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
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

	p, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := describeResults(t, p, obj)
	want := []string{"error main.deny replicas not set", "error main.violation this name is taken", "warning main.warn_image image from the old registry"}
	if !slices.Equal(got, want) {
		t.Errorf("package main: %q, want %q", got, want)
	}
	p, err = LoadPolicies(t.Context(), []string{dir}, PolicyOptions{Namespaces: []string{"team.rules"}})
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
	if _, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{}); err == nil || !strings.Contains(err.Error(), "broken.rego:4") {
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

// writePolicies writes files (name: content) under dir.
func writePolicies(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// loopbackServer counts the requests it receives.
func loopbackServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprint(w, "pong")
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestPolicyHTTPSendRefused: a policy calling http.send does not compile by
// default (the error names the file, the built-in and the flag) and the
// server hears nothing; with AllowNetwork the same policy runs and does
// reach the server.
func TestPolicyHTTPSendRefused(t *testing.T) {
	srv, hits := loopbackServer(t)
	for _, syntax := range []struct{ name, src string }{
		{"v1", `package main

deny contains msg if {
	resp := http.send({"method": "GET", "url": "` + srv.URL + `/exfiltrate"})
	msg := sprintf("server said %s", [resp.raw_body])
}
`},
		{"v0", `package main

deny[msg] {
	resp := http.send({"method": "GET", "url": "` + srv.URL + `/exfiltrate"})
	msg := sprintf("server said %s", [resp.raw_body])
}
`},
	} {
		t.Run(syntax.name, func(t *testing.T) {
			hits.Store(0)
			dir := t.TempDir()
			writePolicies(t, dir, map[string]string{"net.rego": syntax.src})
			obj := map[string]any{"kind": "ConfigMap"}

			_, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
			if err == nil {
				t.Fatal("policy calling http.send loaded without --allow-policy-network")
			}
			for _, want := range []string{filepath.Join(dir, "net.rego") + ":4", "http.send", AllowPolicyNetworkFlag} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the server received %d requests from a refused policy", n)
			}

			p, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{AllowNetwork: true})
			if err != nil {
				t.Fatalf("with AllowNetwork: %v", err)
			}
			got := describeResults(t, p, obj)
			if !slices.Equal(got, []string{"error main.deny server said pong"}) {
				t.Errorf("with AllowNetwork: %q, want the server's answer", got)
			}
			if n := hits.Load(); n != 1 {
				t.Errorf("with AllowNetwork the server received %d requests, want 1", n)
			}
		})
	}
}

// TestPolicyRuntimeRefused: opa.runtime() (the environment) does not
// compile by default; allowed, it still shows no environment variable, as
// Ferry never hands OPA the runtime.
func TestPolicyRuntimeRefused(t *testing.T) {
	t.Setenv("FERRY_TEST_CI_SECRET", "s3cret")
	dir := t.TempDir()
	writePolicies(t, dir, map[string]string{"env.rego": `package main

deny contains msg if {
	msg := sprintf("env %v", [opa.runtime().env])
}

warn contains msg if {
	msg := opa.runtime().env.FERRY_TEST_CI_SECRET
}
`})
	_, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
	if err == nil || !strings.Contains(err.Error(), "env.rego:4: built-in opa.runtime is disabled") || !strings.Contains(err.Error(), AllowPolicyNetworkFlag) {
		t.Fatalf("opa.runtime: err = %v, want it refused naming the file, the built-in and the flag", err)
	}
	p, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{AllowNetwork: true})
	if err != nil {
		t.Fatal(err)
	}
	got := describeResults(t, p, map[string]any{"kind": "ConfigMap"})
	if strings.Contains(strings.Join(got, "\n"), "s3cret") {
		t.Errorf("a policy read the environment: %q", got)
	}
}

// TestPolicySchemaRefRefused: json.match_schema would read a file:// $ref
// from anywhere on the machine; it is disabled by default. METADATA schemas
// are not processed at all (their $refs are read at compile time).
func TestPolicySchemaRefRefused(t *testing.T) {
	outside := t.TempDir()
	schema := filepath.Join(outside, "schema.json")
	if err := os.WriteFile(schema, []byte(`{"type": "string"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := "file://" + filepath.ToSlash(schema)

	dir := t.TempDir()
	writePolicies(t, dir, map[string]string{"schema.rego": `package main

deny contains msg if {
	[ok, _] := json.match_schema(input, {"$ref": "` + ref + `"})
	msg := sprintf("matched %v", [ok])
}
`})
	_, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
	if err == nil || !strings.Contains(err.Error(), "schema.rego:4: built-in json.match_schema is disabled") {
		t.Errorf("json.match_schema: err = %v, want it refused", err)
	}

	// Were the annotation processed, the schema (a string) would make
	// input.kind a type error.
	dir = t.TempDir()
	writePolicies(t, dir, map[string]string{"annotated.rego": `package main

# METADATA
# schemas:
#   - input: {"$ref": "` + ref + `"}
deny contains "a deployment" if {
	input.kind == "Deployment"
}
`})
	p, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
	if err != nil {
		t.Fatalf("METADATA schema: %v (was the file:// schema read?)", err)
	}
	if got := describeResults(t, p, map[string]any{"kind": "Deployment"}); !slices.Equal(got, []string{"error main.deny a deployment"}) {
		t.Errorf("annotated policy: %q", got)
	}
}

// TestDisabledBuiltins: the list is what this OPA version has, every
// nondeterministic built-in is either disabled or reviewed, and the
// capabilities policies compile with leave out exactly the disabled ones.
func TestDisabledBuiltins(t *testing.T) {
	want := []string{"http.send", "json.match_schema", "json.verify_schema", "net.lookup_ip_addr", "opa.runtime"}
	if got := DisabledBuiltins(); !slices.Equal(got, want) {
		t.Errorf("DisabledBuiltins() = %q, want %q (update docs/validate.md too)", got, want)
	}
	all := map[string]bool{}
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		all[b.Name] = true
		_, disabled := disabledBuiltins[b.Name]
		_, reviewed := reviewedBuiltins[b.Name]
		if b.Nondeterministic && !disabled && !reviewed {
			t.Errorf("nondeterministic built-in %s is neither in disabledBuiltins nor in reviewedBuiltins: review it", b.Name)
		}
	}
	for _, list := range []map[string]string{disabledBuiltins, reviewedBuiltins} {
		for name := range list {
			if !all[name] {
				t.Errorf("%s is not a built-in of this OPA version", name)
			}
		}
	}
	for _, allow := range []bool{false, true} {
		caps := policyCapabilities(allow)
		for _, name := range want {
			if caps.ContainsBuiltin(name) != allow {
				t.Errorf("AllowNetwork=%v: capabilities contain %s: %v", allow, name, !allow)
			}
		}
		if !caps.ContainsBuiltin("time.now_ns") || !caps.ContainsBuiltin("net.cidr_contains") {
			t.Errorf("AllowNetwork=%v: a harmless built-in is missing", allow)
		}
	}
}

// TestPolicySymlinks: a symbolic link inside a policy directory may point
// within it, not out of it (relative or absolute), and the error names it.
func TestPolicySymlinks(t *testing.T) {
	base := t.TempDir()
	writePolicies(t, base, map[string]string{
		"outside/evil.rego":      "package main\n\ndeny contains \"outside\" if { true }\n",
		"policies/lib/inner.txt": "package main\n\ndeny contains \"inside\" if { true }\n",
	})
	dir := filepath.Join(base, "policies")
	if err := os.Symlink(filepath.Join("lib", "inner.txt"), filepath.Join(dir, "inner.rego")); err != nil {
		t.Fatal(err)
	}
	p, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
	if err != nil {
		t.Fatalf("symlink within the directory: %v", err)
	}
	if got := describeResults(t, p, map[string]any{}); !slices.Equal(got, []string{"error main.deny inside"}) {
		t.Errorf("symlink within the directory: %q", got)
	}

	for name, target := range map[string]string{
		"relative.rego": filepath.Join("..", "outside", "evil.rego"),
		"absolute.rego": filepath.Join(base, "outside", "evil.rego"),
	} {
		link := filepath.Join(dir, name)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		_, err := LoadPolicies(t.Context(), []string{dir}, PolicyOptions{})
		if err == nil || !strings.Contains(err.Error(), link) {
			t.Errorf("%s -> %s: err = %v, want an error naming the link", name, target, err)
		}
		if err := os.Remove(link); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRepositoryPoliciesStayInRepository: the repository's policies (the
// default policies/, or a --policy directory inside it) are read through
// the repository's os.Root: a policies directory that is a link out of the
// repository is refused; a --policy directory outside it is the user's.
func TestRepositoryPoliciesStayInRepository(t *testing.T) {
	base := t.TempDir()
	writePolicies(t, base, map[string]string{
		"outside/evil.rego": "package main\n\ndeny contains \"outside\" if { true }\n",
		"repo/app/cm.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n",
	})
	repo := filepath.Join(base, "repo")
	outside := filepath.Join(base, "outside")
	if err := os.Symlink(filepath.Join("..", "outside"), filepath.Join(repo, "policies")); err != nil {
		t.Fatal(err)
	}
	for _, dirs := range [][]string{nil, {filepath.Join(repo, "policies")}} {
		_, err := Run(t.Context(), Options{Root: repo, PolicyDirs: dirs})
		if err == nil || !strings.Contains(err.Error(), filepath.Join(repo, "policies")) {
			t.Errorf("--policy %q: policies linked out of the repository: err = %v, want an error naming it", dirs, err)
		}
	}
	r, err := Run(t.Context(), Options{Root: repo, PolicyDirs: []string{outside}})
	if err != nil {
		t.Fatalf("--policy outside the repository: %v", err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Message != "outside" {
		t.Errorf("--policy outside the repository: findings %+v, want the policy's", r.Findings)
	}
}
