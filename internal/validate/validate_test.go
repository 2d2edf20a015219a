package validate

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	"github.com/ferrycd/ferry/internal/scaffold"
)

var updateFixture = flag.Bool("update-fixture", false, "rewrite the golden files in testdata/fixture")

// TestFixtureFindsEachDefectOnce validates a repository with one known defect
// per file: each is found exactly once, with its file, line, object and rule,
// and nothing else is reported.
func TestFixtureFindsEachDefectOnce(t *testing.T) {
	r, err := Run(t.Context(), Options{Root: "testdata/repo"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"error schema apps/api/deployment.yaml:2 apps/v1 Deployment api/api: .spec.replicas: expected numeric (int or float), got string",
		"error policy/main.deny apps/unlabelled/deployment.yaml:2 apps/v1 Deployment api/orphan: Deployment orphan has no team label",
		"error schema apps/web/deployment.yaml:2 apps/v1 Deployment web: .spec.replicsa: field not declared in schema",
		"error render broken/kustomization.yaml:0 : kustomize: ",
		"warning FERRY-SEC-012 pods/latest.yaml:2 v1 Pod api/floating: container \"app\": image \"example/app:latest\" uses the latest tag",
		"error FERRY-SEC-001 pods/privileged.yaml:2 v1 Pod api/debug: container \"shell\": securityContext.privileged is true",
		"error schema widgets/widgets.yaml:11 example.com/v1 Widget api/empty: spec.size in body should be greater than or equal to 1",
	}
	var got []string
	for _, f := range r.Findings {
		got = append(got, fmt.Sprintf("%s %s %s:%d %s: %s", f.Severity, f.Rule, f.File, f.Line, f.Object, f.Message))
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d:\n  %s", len(got), len(want), strings.Join(got, "\n  "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d:\n  got  %s\n  want %s…", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[3], "missing.yaml") {
		t.Errorf("render error %q does not name the missing file", got[3])
	}
	units := map[string]int{}
	for _, u := range r.Units {
		units[u.Name] = u.Objects
	}
	for name, objects := range map[string]int{
		"application argocd/web (apps/web)": 1, "directory apps/api": 1, "directory crds": 1, "directory widgets": 2,
		"kustomization broken": 0, "directory clusters": 1,
	} {
		if n, ok := units[name]; !ok || n != objects {
			t.Errorf("unit %q: %d objects (found: %v), want %d", name, n, ok, objects)
		}
	}
	if _, ok := units["kustomization apps/web"]; ok {
		t.Error("apps/web reported as a kustomization as well as the Application's source")
	}

	for _, format := range Formats {
		var buf bytes.Buffer
		if err := Write(&buf, r, WriteOptions{Format: format, Version: "test"}); err != nil {
			t.Fatal(err)
		}
		goldenFile(t, filepath.Join("testdata", "fixture", "report."+format), buf.Bytes(), *updateFixture)
	}
}

// TestCleanLayoutsHaveNoErrors: the repository `ferry init` writes and the
// example myapp layout validate without errors.
func TestCleanLayoutsHaveNoErrors(t *testing.T) {
	initDir := filepath.Join(t.TempDir(), "repo")
	if _, err := scaffold.Init(t.Context(), initDir, scaffold.Options{RepoURL: "https://git.example.com/gitops.git"}); err != nil {
		t.Fatal(err)
	}
	exampleDir := t.TempDir()
	for _, env := range []string{"staging", "production"} {
		if err := os.CopyFS(filepath.Join(exampleDir, "apps", env, "myapp"), examples.MyApp()); err != nil {
			t.Fatal(err)
		}
	}
	for name, dir := range map[string]string{"ferry init": initDir, "example myapp": exampleDir} {
		r, err := Run(t.Context(), Options{Root: dir})
		if err != nil {
			t.Fatal(err)
		}
		if n := r.Count(SeverityError); n > 0 || len(r.Units) == 0 {
			var buf bytes.Buffer
			_ = Write(&buf, r, WriteOptions{})
			t.Errorf("%s: %d errors in %d units:\n%s", name, n, len(r.Units), buf.String())
		}
	}
}

// TestServerDryRunCatchesAdmission: a Service of an invalid type passes the
// offline checks (the schema types the field as a string) and is rejected by
// the API server's dry run; a namespace the repository creates is not a
// problem, one nothing creates is.
func TestServerDryRunCatchesAdmission(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	dir := t.TempDir()
	write(t, dir, map[string]string{
		"app/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\nspec:\n  type: Sideways\n  ports: [{port: 80}]\n",
		"app/ns.yaml":      "apiVersion: v1\nkind: Namespace\nmetadata: {name: created-by-repo}\n",
		"app/cm.yaml":      "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: created-by-repo}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: nobody-creates}\n",
	})
	offline, err := Run(t.Context(), Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	if n := offline.Count(SeverityError); n != 0 {
		t.Fatalf("offline: %d errors, want none: %+v", n, offline.Findings)
	}
	dry, err := NewServerDryRun(c.UserConfig())
	if err != nil {
		t.Fatal(err)
	}
	r, err := Run(t.Context(), Options{Root: dir, DryRun: dry})
	if err != nil {
		t.Fatal(err)
	}
	var errs, infos []string
	for _, f := range r.Findings {
		if f.Rule != "dry-run" {
			continue
		}
		line := f.Object + ": " + f.Message
		if f.Severity == SeverityError {
			errs = append(errs, line)
		} else {
			infos = append(infos, line)
		}
	}
	slices.Sort(errs)
	if len(errs) != 2 || !strings.Contains(errs[0], "ConfigMap nobody-creates/b: namespace nobody-creates does not exist") ||
		!strings.Contains(errs[1], "Service default/web") || !strings.Contains(errs[1], "spec.type") || !strings.Contains(errs[1], "Sideways") {
		t.Errorf("dry-run errors %q: want the Service's spec.type and the namespace nothing creates", errs)
	}
	if len(infos) != 1 || !strings.Contains(infos[0], "ConfigMap created-by-repo/a") {
		t.Errorf("dry-run notes %q: want the ConfigMap whose namespace the repository creates", infos)
	}
}

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSymlinkOutOfRootRefused: validation reads nothing outside the
// repository.
func TestSymlinkOutOfRootRefused(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, map[string]string{"secret.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outside}\n"})
	dir := t.TempDir()
	write(t, dir, map[string]string{"app/ok.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n"})
	if err := os.Symlink(filepath.Join(outside, "secret.yaml"), filepath.Join(dir, "app", "link.yaml")); err != nil {
		t.Fatal(err)
	}
	r, err := Run(context.Background(), Options{Root: dir})
	if err != nil && !strings.Contains(err.Error(), "link.yaml") {
		t.Fatalf("err = %v, want one naming link.yaml", err)
	}
	if err == nil {
		found := slices.ContainsFunc(r.Findings, func(f Finding) bool {
			return f.Severity == SeverityError && strings.Contains(f.File+f.Message, "link.yaml")
		})
		if !found {
			t.Errorf("a symlink out of the repository was not reported: %+v", r.Findings)
		}
	}
}
