package cli

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/render"
	"github.com/ferrycd/ferry/internal/validate"
)

// TestInitRendersAndValidates scaffolds a repository and checks
// that every unit renders with Ferry's renderer and that the API server
// accepts every object (server-side dry run, as scripts/validate.sh does).
func TestInitRendersAndValidates(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "gitops-repo")
	out, err := ferry(t, "init", dir, "--repo-url", "https://git.example.com/myorg/gitops-repo.git")
	if err != nil {
		t.Fatalf("ferry init: %v\n%s", err, out)
	}
	for _, want := range []string{"apps/production/frontend/deployment.yaml", "apps/staging/backend/kustomization.yaml",
		"infrastructure/base/namespaces.yaml", "infrastructure/overlays/staging/kustomization.yaml",
		"clusters/production/frontend.yaml", "scripts/validate.sh", "scripts/bootstrap.sh", "README.md",
		"infrastructure/charts/platform/Chart.yaml", "infrastructure/charts/platform/templates/_helpers.tpl",
		"infrastructure/charts/platform/values-staging.yaml", "clusters/staging/platform.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("missing %s", want)
		}
	}
	if branches := git(t, dir, "branch", "--format=%(refname:short)"); !strings.Contains(branches, "main") || !strings.Contains(branches, "staging") {
		t.Errorf("branches: %q", branches)
	}
	if _, err := ferry(t, "init", dir); err == nil {
		t.Error("init into a non-empty directory succeeded")
	}

	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	fsys := root.FS()
	r := render.NewRenderer(render.Limits{})
	var units []string
	for _, pattern := range []string{"apps/*/*", "infrastructure/overlays/*", "clusters/*"} {
		m, _ := fs.Glob(fsys, pattern)
		units = append(units, m...)
	}
	if len(units) != 8 {
		t.Fatalf("units %v, want 4 apps, 2 overlays, 2 clusters", units)
	}
	ctx := t.Context()
	var objects []*unstructured.Unstructured
	for _, u := range units {
		res, err := r.Render(ctx, fsys, render.Source{Path: u})
		if err != nil {
			t.Fatalf("render %s: %v", u, err)
		}
		objects = append(objects, res.Objects...)
	}
	// The platform chart, as each environment's Application renders it.
	for _, env := range []string{"staging", "production"} {
		objects = append(objects, renderPlatform(t, r, fsys, env)...)
	}
	// Namespaces for real (objects in them cannot be dry-run otherwise),
	// the rest as a server-side dry run.
	for _, o := range objects {
		if o.GetKind() == "Namespace" {
			if err := env.Client.Patch(ctx, o.DeepCopy(), client.Apply, client.FieldOwner("init-test"), client.ForceOwnership); err != nil {
				t.Fatalf("apply %s: %v", o.GetName(), err)
			}
		}
	}
	for _, o := range objects {
		if err := dryRun(ctx, o); err != nil {
			t.Errorf("%s %s/%s rejected by the API server: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}

	// What scripts/validate.sh runs: no errors, the example policy in use,
	// and the server dry run agreeing.
	out, err = ferry(t, "validate", dir, "-o", "json", "--server-dry-run", "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext)
	if err != nil {
		t.Fatalf("ferry validate: %v\n%s", err, out)
	}
	var report struct {
		Units    []validate.UnitSummary
		Findings []struct{ Rule, Severity, Message string }
	}
	if err := json.Unmarshal([]byte(out), &report); err != nil {
		t.Fatalf("ferry validate -o json: %v\n%s", err, out)
	}
	if len(report.Units) != 10 {
		t.Errorf("ferry validate found %d units, want 10 (8 Applications, 2 clusters/ directories): %+v", len(report.Units), report.Units)
	}
	for _, env := range []string{"staging", "production"} {
		name := "application argocd/platform-" + env + " (infrastructure/charts/platform)"
		if !slices.ContainsFunc(report.Units, func(u validate.UnitSummary) bool { return u.Name == name && u.Objects == 4 }) {
			t.Errorf("ferry validate did not render %q into 4 objects: %+v", name, report.Units)
		}
	}
	for _, f := range report.Findings {
		if f.Severity == "error" || strings.HasPrefix(f.Rule, "policy/") || f.Rule == "dry-run" && f.Severity != "info" {
			t.Errorf("finding on the scaffolded repository: %+v", f)
		}
	}
	validateScript, err := os.ReadFile(filepath.Join(dir, "scripts", "validate.sh"))
	if err != nil || !strings.Contains(string(validateScript), "ferry validate") {
		t.Errorf("scripts/validate.sh does not run ferry validate: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "policies", "deployments.rego")); err != nil {
		t.Errorf("no example policy: %v", err)
	}
}

// renderPlatform renders the platform chart as clusters/ENV/platform.yaml
// says (the Application's value file, release name and namespace, Helm's
// default capabilities as ferry validate uses) and checks that the
// environment's values are in the objects.
func renderPlatform(t *testing.T, r *render.Renderer, fsys fs.FS, env string) []*unstructured.Unstructured {
	t.Helper()
	data, err := fs.ReadFile(fsys, "clusters/"+env+"/platform.yaml")
	if err != nil {
		t.Fatal(err)
	}
	app := &v1alpha1.Application{}
	if err := yaml.Unmarshal(data, app); err != nil || app.Spec.Source == nil {
		t.Fatalf("clusters/%s/platform.yaml: %v", env, err)
	}
	src := appstate.RenderSource(*app.Spec.Source)
	if src.Helm, err = appstate.HelmOptions(*app.Spec.Source, app.Name, app.Spec.Destination.Namespace, appstate.Capabilities{}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Render(t.Context(), fsys, src)
	if err != nil {
		t.Fatalf("render the platform chart for %s: %v", env, err)
	}
	want := map[string]struct{ maxMemory, preemption string }{
		"staging": {"512Mi", "Never"}, "production": {"4Gi", "PreemptLowerPriority"},
	}[env]
	var got []string
	for _, o := range res.Objects {
		got = append(got, o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
		if l := o.GetLabels(); l["app.kubernetes.io/managed-by"] != "Helm" || l["app.kubernetes.io/instance"] != "platform-"+env {
			t.Errorf("%s: %s %s labels %v, want managed by Helm, instance platform-%s", env, o.GetKind(), o.GetName(), l, env)
		}
		switch o.GetKind() {
		case "LimitRange":
			limits, _, _ := unstructured.NestedSlice(o.Object, "spec", "limits")
			if len(limits) != 1 {
				t.Fatalf("%s: LimitRange %s/%s limits %v", env, o.GetNamespace(), o.GetName(), limits)
			}
			if m, _, _ := unstructured.NestedString(limits[0].(map[string]any), "max", "memory"); m != want.maxMemory {
				t.Errorf("%s: LimitRange %s/%s max memory %q, want %q (values-%s.yaml)", env, o.GetNamespace(), o.GetName(), m, want.maxMemory, env)
			}
		case "PriorityClass":
			if p, _, _ := unstructured.NestedString(o.Object, "preemptionPolicy"); p != want.preemption {
				t.Errorf("%s: PriorityClass %s preemptionPolicy %q, want %q (values-%s.yaml)", env, o.GetName(), p, want.preemption, env)
			}
		}
	}
	slices.Sort(got)
	if w := []string{"LimitRange backend/container-defaults", "LimitRange frontend/container-defaults",
		"PriorityClass /backend-workloads", "PriorityClass /frontend-workloads"}; !slices.Equal(got, w) {
		t.Errorf("%s: the platform chart rendered %v, want %v", env, got, w)
	}
	return res.Objects
}

func dryRun(ctx context.Context, o *unstructured.Unstructured) error {
	obj := o.DeepCopy()
	return env.Client.Patch(ctx, obj, client.Apply, client.FieldOwner("init-test"), client.ForceOwnership, client.DryRunAll)
}

// TestValidateExitCodes: 0 for a clean repository, 1 for findings (and for
// warnings with --fail-on warning), 2 for usage errors.
func TestValidateExitCodes(t *testing.T) {
	clean := t.TempDir()
	mustWrite(t, filepath.Join(clean, "app", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n")
	warned := t.TempDir()
	mustWrite(t, filepath.Join(warned, "app", "widget.yaml"), "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: a}\n")
	broken := t.TempDir()
	mustWrite(t, filepath.Join(broken, "app", "cm.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: [1]}\n")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"validate", clean}, 0, "no findings"},
		{[]string{"validate", warned}, 0, "no schema for example.com/v1, Kind=Widget"},
		{[]string{"validate", warned, "--fail-on", "warning"}, 1, "1 warning"},
		{[]string{"validate", broken}, 1, "app/cm.yaml"},
		{[]string{"validate", clean, "-o", "yaml"}, 2, `--output "yaml"`},
		{[]string{"validate", clean, "--no-such-flag"}, 2, "unknown flag"},
		{[]string{"validate", clean, "--level", "FERRY-SEC-999=off"}, 2, "FERRY-SEC-999"},
		{[]string{"validate", filepath.Join(clean, "missing")}, 2, "missing"},
	} {
		out, err := ferry(t, tc.args...)
		if code := exitCodeOf(err); code != tc.code || !strings.Contains(out+errText(err), tc.out) {
			t.Errorf("ferry %s: exit %d (%v), want %d; output %q, want it to contain %q", strings.Join(tc.args[1:], " "), code, err, tc.code, out, tc.out)
		}
	}
}

func exitCodeOf(err error) int {
	if err == nil {
		return 0
	}
	return ExitCode(err)
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
