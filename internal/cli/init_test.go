package cli

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/render"
)

// TestInitRendersAndValidates scaffolds the seed's repository and checks
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
		"clusters/production/frontend.yaml", "scripts/validate.sh", "scripts/bootstrap.sh", "README.md"} {
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
}

func dryRun(ctx context.Context, o *unstructured.Unstructured) error {
	obj := o.DeepCopy()
	return env.Client.Patch(ctx, obj, client.Apply, client.FieldOwner("init-test"), client.ForceOwnership, client.DryRunAll)
}
