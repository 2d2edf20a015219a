package render

import (
	"bytes"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/types"
)

// stagingOptions are KustomizeOptions as an Argo CD Application would set them.
var stagingOptions = &KustomizeOptions{
	NamePrefix:        "team-",
	NameSuffix:        "-v2",
	Namespace:         "staging",
	Images:            []string{"nginx=registry.example.com/nginx:1.27.1"},
	CommonLabels:      map[string]string{"env": "staging"},
	CommonAnnotations: map[string]string{"ferry.example.com/owner": "team-a"},
}

func TestRenderKustomizeGolden(t *testing.T) {
	repo := repoFixture(t)
	r := NewRenderer(Limits{})
	tests := []struct {
		name string
		src  Source
		want []string
	}{
		{
			name: "kustomize-overlay",
			src:  Source{Path: "apps/staging/myapp"},
			want: []string{"ConfigMap/staging-myapp-config-", "Service/staging-myapp", "Deployment/staging-myapp"},
		},
		{
			name: "kustomize-options",
			src:  Source{Path: "apps/staging/myapp", Kustomize: stagingOptions},
			want: []string{"ConfigMap/team-staging-myapp-config-", "Service/team-staging-myapp-v2", "Deployment/team-staging-myapp-v2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Render(t.Context(), repo, tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != TypeKustomize {
				t.Errorf("Type = %q, want %q", res.Type, TypeKustomize)
			}
			got := names(res.Objects)
			if len(got) != len(tt.want) {
				t.Fatalf("objects = %q, want %q", got, tt.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("object %d = %q, want prefix %q", i, got[i], tt.want[i])
				}
			}
			checkGolden(t, tt.name, encodeResult(t, res))
		})
	}
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	t.Fatalf("no %s in %q", kind, names(objs))
	return nil
}

func TestRenderKustomizeConfigMapGenerator(t *testing.T) {
	res, err := NewRenderer(Limits{}).Render(t.Context(), repoFixture(t), Source{Path: "apps/staging/myapp"})
	if err != nil {
		t.Fatal(err)
	}
	cm := find(t, res.Objects, "ConfigMap")
	if !regexp.MustCompile(`^staging-myapp-config-[a-z0-9]{10}$`).MatchString(cm.GetName()) {
		t.Errorf("generated ConfigMap name %q has no hash suffix", cm.GetName())
	}
	deploy := find(t, res.Objects, "Deployment")
	volumes, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "volumes")
	ref, _, _ := unstructured.NestedString(volumes[0].(map[string]any), "configMap", "name")
	if ref != cm.GetName() {
		t.Errorf("Deployment mounts ConfigMap %q, want the generated %q", ref, cm.GetName())
	}
	if replicas, _, _ := unstructured.NestedInt64(deploy.Object, "spec", "replicas"); replicas != 3 {
		t.Errorf("replicas = %d, want the overlay's patch (3)", replicas)
	}
}

func TestRenderKustomizeOptions(t *testing.T) {
	res, err := NewRenderer(Limits{}).Render(t.Context(), repoFixture(t), Source{Path: "apps/staging/myapp", Kustomize: stagingOptions})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range res.Objects {
		if !strings.HasPrefix(obj.GetName(), "team-staging-myapp") {
			t.Errorf("%s: name prefix not applied", obj.GetName())
		}
		if obj.GetNamespace() != "staging" {
			t.Errorf("%s: namespace = %q", obj.GetName(), obj.GetNamespace())
		}
		if obj.GetLabels()["env"] != "staging" || obj.GetLabels()["app"] != "myapp" {
			t.Errorf("%s: labels = %v", obj.GetName(), obj.GetLabels())
		}
		if obj.GetAnnotations()["ferry.example.com/owner"] != "team-a" {
			t.Errorf("%s: annotations = %v", obj.GetName(), obj.GetAnnotations())
		}
	}
	deploy := find(t, res.Objects, "Deployment")
	containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
	if image := containers[0].(map[string]any)["image"]; image != "registry.example.com/nginx:1.27.1" {
		t.Errorf("image = %v", image)
	}
	selector, _, _ := unstructured.NestedStringMap(deploy.Object, "spec", "selector", "matchLabels")
	if selector["env"] != "staging" {
		t.Errorf("common labels not applied to the selector: %v", selector)
	}
	cm := find(t, res.Objects, "ConfigMap")
	volumes, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "volumes")
	if ref, _, _ := unstructured.NestedString(volumes[0].(map[string]any), "configMap", "name"); ref != cm.GetName() {
		t.Errorf("Deployment mounts %q, want %q", ref, cm.GetName())
	}
}

func TestRenderKustomizeOptionsAtRepositoryRoot(t *testing.T) {
	repo := mapFS(map[string]string{
		"kustomization.yaml": "resources: [cm.yaml]\n",
		"cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
	})
	res, err := NewRenderer(Limits{}).Render(t.Context(), repo, Source{Kustomize: &KustomizeOptions{NamePrefix: "p-"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res.Objects); !slices.Equal(got, []string{"ConfigMap/p-cm"}) {
		t.Errorf("objects = %q", got)
	}
}

func TestRenderKustomizeRefusals(t *testing.T) {
	const cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n"
	tests := []struct {
		name     string
		path     string // the source path; "app" when empty
		files    map[string]string
		file     string
		target   error
		contains string
	}{
		{
			name:  "https base",
			files: map[string]string{"app/kustomization.yaml": "resources:\n- https://github.com/org/repo//base?ref=v1\n"},
			file:  "app/kustomization.yaml", target: ErrRemoteReference, contains: "https://github.com/org/repo//base?ref=v1",
		},
		{
			name:  "scp-style git base",
			files: map[string]string{"app/kustomization.yaml": "resources:\n- git@github.com:org/repo.git/base\n"},
			file:  "app/kustomization.yaml", target: ErrRemoteReference, contains: "git@github.com",
		},
		{
			name:  "github shorthand in a nested base",
			files: map[string]string{"app/kustomization.yaml": "resources: [../base]\n", "base/kustomization.yaml": "bases: [github.com/org/repo/base]\n"},
			file:  "base/kustomization.yaml", target: ErrRemoteReference, contains: "github.com/org/repo/base",
		},
		{
			name:  "file URL component",
			files: map[string]string{"app/kustomization.yaml": "components: ['file:///srv/git/repo']\n"},
			file:  "app/kustomization.yaml", target: ErrRemoteReference, contains: "file:///srv/git/repo",
		},
		{
			name:  "remote generator file",
			files: map[string]string{"app/kustomization.yaml": "configMapGenerator:\n- name: c\n  files: [conf=https://example.com/app.conf]\n"},
			file:  "app/kustomization.yaml", target: ErrRemoteReference, contains: "https://example.com/app.conf",
		},
		{
			name:  "remote patch",
			files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\npatches:\n- path: HTTPS://example.com/p.yaml\n", "app/cm.yaml": cm},
			file:  "app/kustomization.yaml", target: ErrRemoteReference, contains: "HTTPS://example.com/p.yaml",
		},
		{
			name: "remote path in a transformer configuration",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [patch.yaml]\n",
				"app/cm.yaml":            cm,
				"app/patch.yaml":         "apiVersion: builtin\nkind: PatchTransformer\nmetadata: {name: p}\npath: https://example.com/p.yaml\n",
			},
			file: "app/patch.yaml", target: ErrRemoteReference, contains: "https://example.com/p.yaml",
		},
		{
			name:  "helmCharts",
			files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- name: redis\n  repo: https://charts.example.com\n"},
			file:  "app/kustomization.yaml", target: ErrNotAllowed, contains: "Helm",
		},
		{
			name: "exec plugin",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [plugin.yaml]\n",
				"app/cm.yaml":            cm,
				"app/plugin.yaml": "apiVersion: example.com/v1\nkind: Rewriter\nmetadata:\n  name: r\n  annotations:\n" +
					"    config.kubernetes.io/function: |\n      exec:\n        path: ./rewrite.sh\n",
			},
			file: "app/plugin.yaml", target: ErrNotAllowed, contains: "plugins are disabled",
		},
		{
			name: "exec plugin behind a transformers directory",
			files: map[string]string{
				"app/kustomization.yaml":     "resources: [cm.yaml]\ntransformers: [../plugins]\n",
				"app/cm.yaml":                cm,
				"plugins/kustomization.yaml": "resources: [rewriter.yaml]\n",
				"plugins/rewriter.yaml":      "apiVersion: example.com/v1\nkind: Rewriter\nmetadata: {name: r}\n",
			},
			file: "plugins/rewriter.yaml", target: ErrNotAllowed, contains: "plugins are disabled",
		},
		{
			name: "inline KRM function",
			files: map[string]string{
				"app/kustomization.yaml": "resources: [cm.yaml]\ngenerators:\n- |\n  apiVersion: example.com/v1\n  kind: Gen\n  metadata:\n    name: g\n" +
					"    annotations:\n      config.kubernetes.io/function: |\n        container:\n          image: evil/gen\n",
				"app/cm.yaml": cm,
			},
			file: "app/kustomization.yaml", target: ErrNotAllowed, contains: "example.com/v1 Gen",
		},
		{
			name:  "custom OpenAPI schema",
			files: map[string]string{"app/kustomization.yaml": "resources: [cm.yaml]\nopenapi:\n  path: schema.json\n", "app/cm.yaml": cm},
			file:  "app/kustomization.yaml", target: ErrNotAllowed, contains: "openapi",
		},
		{
			name:  "resource outside the repository",
			path:  "apps/app",
			files: map[string]string{"apps/app/kustomization.yaml": "resources:\n- ../../../outside\n"},
			file:  "apps/app/kustomization.yaml", target: ErrOutsideRepository, contains: "../../../outside",
		},
		{
			name:  "absolute resource",
			files: map[string]string{"app/kustomization.yaml": "resources: [/etc/kubernetes/admin.yaml]\n"},
			file:  "app/kustomization.yaml", target: ErrOutsideRepository, contains: "/etc/kubernetes/admin.yaml",
		},
		{
			name:  "file outside the kustomization directory",
			files: map[string]string{"app/kustomization.yaml": "resources: [../secret.yaml]\n", "secret.yaml": cm},
			file:  "app/kustomization.yaml", contains: "is not in or below",
		},
		{
			name:  "kustomize build error",
			files: map[string]string{"app/kustomization.yaml": "resources: [missing.yaml]\n"},
			file:  "app/kustomization.yaml", contains: "app/missing.yaml",
		},
	}
	r := NewRenderer(Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := Source{Path: tt.path}
			if src.Path == "" {
				src.Path = "app"
			}
			res, err := r.Render(t.Context(), mapFS(tt.files), src)
			if res != nil {
				t.Errorf("got a result with an error")
			}
			wantError(t, err, tt.file, 0, tt.target, tt.contains)
			if err != nil && strings.Contains(err.Error(), repoMount+"/app") {
				t.Errorf("error %q shows the virtual mount point", err)
			}
		})
	}
}

func TestRenderKustomizeBuiltinPlugins(t *testing.T) {
	// Builtin generators and transformers, from files and inline, still run.
	repo := mapFS(map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\ntransformers: [labels.yaml]\ngenerators:\n- |\n" +
			"  apiVersion: builtin\n  kind: ConfigMapGenerator\n  metadata: {name: generated}\n  literals: [a=b]\n",
		"app/cm.yaml":     "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n",
		"app/labels.yaml": "apiVersion: builtin\nkind: LabelTransformer\nmetadata: {name: l}\nlabels: {team: a}\nfieldSpecs:\n- path: metadata/labels\n  create: true\n",
	})
	res, err := NewRenderer(Limits{}).Render(t.Context(), repo, Source{Path: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 2 {
		t.Fatalf("objects = %q, want cm and the generated ConfigMap", names(res.Objects))
	}
	for _, obj := range res.Objects {
		if obj.GetLabels()["team"] != "a" {
			t.Errorf("%s: builtin LabelTransformer not applied: %v", obj.GetName(), obj.GetLabels())
		}
	}
}

func TestRenderKustomizeRepositoryError(t *testing.T) {
	for _, bad := range []string{"apps/base/myapp/service.yaml", "apps/base/myapp/kustomization.yaml", "apps/staging/myapp/replicas.yaml"} {
		t.Run(bad, func(t *testing.T) {
			repo := escapingFS{FS: repoFixture(t), bad: bad}
			res, err := NewRenderer(Limits{}).Render(t.Context(), repo, Source{Path: "apps/staging/myapp"})
			if res != nil {
				t.Error("got a result with an error")
			}
			wantError(t, err, bad, 0, errSymlinkEscape)
		})
	}
}

func TestRenderKustomizeConcurrent(t *testing.T) {
	repo := repoFixture(t)
	r := NewRenderer(Limits{})
	const n = 50
	outputs := make([][]byte, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			res, err := r.Render(t.Context(), repo, Source{Path: "apps/staging/myapp", Kustomize: stagingOptions})
			if err != nil {
				t.Error(err)
				return
			}
			outputs[i] = encodeResult(t, res)
		})
	}
	wg.Wait()
	for i := 1; i < n; i++ {
		if !bytes.Equal(outputs[i], outputs[0]) {
			t.Fatalf("render %d differs from render 0:\n%s\n---\n%s", i, outputs[i], outputs[0])
		}
	}
}

func TestParseImages(t *testing.T) {
	tests := []struct {
		in   []string
		want []types.Image
	}{
		{[]string{"nginx=nginx:1.2"}, []types.Image{{Name: "nginx", NewName: "nginx", NewTag: "1.2"}}},
		{[]string{"nginx:1.2"}, []types.Image{{Name: "nginx", NewTag: "1.2"}}},
		{[]string{"nginx@sha256:abc"}, []types.Image{{Name: "nginx", Digest: "sha256:abc"}}},
		{[]string{"mysql=mariadb"}, []types.Image{{Name: "mysql", NewName: "mariadb"}}},
		{[]string{"my-app=my-registry/my-app@sha256:24a0"}, []types.Image{{Name: "my-app", NewName: "my-registry/my-app", Digest: "sha256:24a0"}}},
		{[]string{"registry:5000/app:v1"}, []types.Image{{Name: "registry:5000/app", NewTag: "v1"}}},
		{[]string{"nginx=*:1.3"}, []types.Image{{Name: "nginx", NewTag: "1.3"}}},
		{[]string{"b:1", "a:2", "b:3"}, []types.Image{{Name: "a", NewTag: "2"}, {Name: "b", NewTag: "3"}}},
	}
	for _, tt := range tests {
		got, err := parseImages(tt.in)
		if err != nil {
			t.Errorf("parseImages(%q): %v", tt.in, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("parseImages(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"nginx", "=nginx:1", ""} {
		if _, err := parseImages([]string{bad}); err == nil {
			t.Errorf("parseImages(%q) succeeded, want an error", bad)
		}
	}
}

func TestIsRemote(t *testing.T) {
	remote := []string{
		"https://github.com/org/repo", "http://example.com/x.yaml", "HTTPS://EXAMPLE.COM/X",
		"ssh://git@host/repo", "file:///srv/repo", "git::https://host/repo", "GIT::foo/bar",
		"git@github.com:org/repo", "deploy-user@host:repo", "github.com/org/repo", "GitHub.com:org/repo",
		"https:example.com", "s3://bucket/key",
	}
	local := []string{
		"base", "../base", "./deployment.yaml", "dir/file.yaml", "gitlab.com/org/repo",
		"@weird", "file.yaml", "../../base/myapp",
	}
	for _, s := range remote {
		if !isRemote(s) {
			t.Errorf("isRemote(%q) = false, want true", s)
		}
	}
	for _, s := range local {
		if isRemote(s) {
			t.Errorf("isRemote(%q) = true, want false", s)
		}
	}
}

func BenchmarkRenderKustomize(b *testing.B) {
	repo := repoFixture(b)
	r := NewRenderer(Limits{})
	src := Source{Path: "bench/podinfo"}
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Render(b.Context(), repo, src)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Objects) != 4 {
			b.Fatalf("got %d objects, want 4", len(res.Objects))
		}
	}
}

func BenchmarkRenderDirectory(b *testing.B) {
	repo := repoFixture(b)
	r := NewRenderer(Limits{})
	src := Source{Path: "bench/podinfo", Directory: nil}
	// The same four objects as a Directory source (the kustomization file is excluded by
	// reading the directory without it).
	delete(repo, "bench/podinfo/kustomization.yaml")
	b.ReportAllocs()
	for b.Loop() {
		res, err := r.Render(b.Context(), repo, src)
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Objects) != 4 {
			b.Fatalf("got %d objects, want 4", len(res.Objects))
		}
	}
}

// TestRenderWithOrigins: the same objects as Render, each with the file (and
// line) it was read from; a generated ConfigMap points at the kustomization
// that generates it.
func TestRenderWithOrigins(t *testing.T) {
	repo := repoFixture(t)
	r := NewRenderer(Limits{})
	for _, src := range []Source{{Path: "apps/staging/myapp"}, {Path: "apps/staging/myapp", Kustomize: stagingOptions}} {
		plain, err := r.Render(t.Context(), repo, src)
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.RenderWithOrigins(t.Context(), repo, src)
		if err != nil {
			t.Fatal(err)
		}
		if plain.Origins != nil {
			t.Error("Render returned origins")
		}
		if got, want := encodeResult(t, &Result{Objects: res.Objects, Type: res.Type}), encodeResult(t, plain); !bytes.Equal(got, want) {
			t.Errorf("objects differ from Render's:\n%s\nwant:\n%s", got, want)
		}
		if len(res.Origins) != len(res.Objects) {
			t.Fatalf("%d origins for %d objects", len(res.Origins), len(res.Objects))
		}
		for i, o := range res.Objects {
			org := res.Origins[i]
			if org.File == "" || !strings.HasPrefix(org.File, "apps/") {
				t.Errorf("%s %s: origin %+v, want a repository path", o.GetKind(), o.GetName(), org)
			}
			if o.GetKind() != "ConfigMap" && org.Line == 0 {
				t.Errorf("%s %s: origin %+v has no line", o.GetKind(), o.GetName(), org)
			}
		}
		t.Logf("%+v", res.Origins)
	}
}
