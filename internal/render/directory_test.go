package render

import (
	"slices"
	"testing"
)

func TestRenderDirectoryGolden(t *testing.T) {
	repo := repoFixture(t)
	r := NewRenderer(Limits{})
	tests := []struct {
		name string
		opts *DirectoryOptions
		want []string
	}{
		{
			name: "directory-default",
			want: []string{
				"ConfigMap/from-json",                              // config.json
				"ConfigMap/typed-list-a", "ConfigMap/typed-list-b", // configmaps.yml
				"Deployment/web",
				"Secret/list-secret", "Role/list-role", // list.yaml
				"ConfigMap/settings", "Service/web", // multi.yaml
				"ServiceAccount/web", // service-account.json
				"ConfigMap/skipped-by-exclude",
			},
		},
		{
			name: "directory-recurse-exclude",
			opts: &DirectoryOptions{Recurse: true, Exclude: "{config.json,skip.yaml}"},
			want: []string{
				"ConfigMap/typed-list-a", "ConfigMap/typed-list-b",
				"Deployment/web",
				"Secret/list-secret", "Role/list-role",
				"ConfigMap/settings", "Service/web",
				"ServiceAccount/web",
				"ConfigMap/deep", "ConfigMap/nested", // sub/deeper/deep.yml < sub/nested.yaml
			},
		},
		{
			name: "directory-include",
			opts: &DirectoryOptions{Recurse: true, Include: "*.yaml"},
			want: []string{
				"Deployment/web",
				"Secret/list-secret", "Role/list-role",
				"ConfigMap/settings", "Service/web",
				"ConfigMap/skipped-by-exclude",
				"ConfigMap/nested", // '*' crosses '/', as in Argo CD
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Render(t.Context(), repo, Source{Path: "apps/plain", Directory: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			if res.Type != TypeDirectory {
				t.Errorf("Type = %q, want %q", res.Type, TypeDirectory)
			}
			if got := names(res.Objects); !slices.Equal(got, tt.want) {
				t.Errorf("objects:\n got %q\nwant %q", got, tt.want)
			}
			checkGolden(t, tt.name, encodeResult(t, res))
		})
	}
}

func TestRenderDirectoryKeepsValues(t *testing.T) {
	res, err := NewRenderer(Limits{}).Render(t.Context(), repoFixture(t), Source{Path: "apps/plain"})
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range res.Objects {
		switch obj.GetKind() + "/" + obj.GetName() {
		case "Deployment/web":
			// Numbers are int64, as unstructured requires (DeepCopy panics on int).
			if v, _ := obj.Object["spec"].(map[string]any)["replicas"].(int64); v != 2 {
				t.Errorf("replicas = %#v, want int64(2)", obj.Object["spec"].(map[string]any)["replicas"])
			}
			obj.DeepCopy()
		case "ConfigMap/settings":
			// A timestamp-looking value stays the string it was.
			if got := obj.GetAnnotations()["created"]; got != "2024-01-02T03:04:05Z" {
				t.Errorf("annotation created = %q", got)
			}
			if obj.GetNamespace() != "" {
				t.Errorf("namespace defaulted to %q; render must not default it", obj.GetNamespace())
			}
		case "ConfigMap/typed-list-a":
			// Items of a typed list take the list's apiVersion and item kind.
			if obj.GetAPIVersion() != "v1" {
				t.Errorf("typed list item apiVersion = %q", obj.GetAPIVersion())
			}
		}
	}
}

func TestRenderDirectoryErrors(t *testing.T) {
	const ok = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n"
	tests := []struct {
		name     string
		files    map[string]string
		opts     *DirectoryOptions
		file     string
		line     int
		contains []string
	}{
		{
			name: "broken YAML",
			files: map[string]string{
				"a.yaml": ok,
				"b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  labels: {a: b\n",
				"c.yaml": ok,
			},
			file: "b.yaml", line: 5, contains: []string{"invalid YAML"},
		},
		{
			name: "broken YAML in a later document",
			files: map[string]string{
				"a.yaml": ok + "---\n" + ok + "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: indent\n",
			},
			file: "a.yaml", line: 15, contains: []string{"invalid YAML"},
		},
		{
			name:  "tab indentation",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n"},
			file:  "a.yaml", line: 4,
		},
		{
			name:  "document without kind",
			files: map[string]string{"a.yaml": ok + "---\n# a comment\n\nmetadata:\n  name: x\n"},
			file:  "a.yaml", line: 8, contains: []string{"no apiVersion and kind"},
		},
		{
			name:  "document without apiVersion",
			files: map[string]string{"a.yaml": "kind: ConfigMap\nmetadata:\n  name: x\n"},
			file:  "a.yaml", line: 1, contains: []string{"ConfigMap has no apiVersion"},
		},
		{
			name:  "document without name",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {a: b}\n"},
			file:  "a.yaml", line: 1, contains: []string{"no metadata.name"},
		},
		{
			name:  "scalar document",
			files: map[string]string{"a.yaml": ok + "---\njust a string\n"},
			file:  "a.yaml", line: 6, contains: []string{"is a string, not a Kubernetes object"},
		},
		{
			name:  "text after separator",
			files: map[string]string{"a.yaml": ok + "--- {a: b}\n"},
			file:  "a.yaml", line: 5, contains: []string{"document separator"},
		},
		{
			name:  "list item without kind",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n"},
			file:  "a.yaml", line: 1, contains: []string{"List item 0"},
		},
		{
			name:  "list items not a list",
			files: map[string]string{"a.yaml": "apiVersion: v1\nkind: List\nitems: {a: b}\n"},
			file:  "a.yaml", line: 1, contains: []string{"not a list"},
		},
		{
			name:  "broken JSON",
			files: map[string]string{"a.json": "{\n  \"apiVersion\": \"v1\",\n  \"kind\": ConfigMap\n}\n"},
			file:  "a.json", line: 3,
		},
		{
			name:  "two JSON values",
			files: map[string]string{"a.json": `{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}` + "\n{}\n"},
			file:  "a.json", line: 2, contains: []string{"unexpected data"},
		},
		{
			name:  "JSON array",
			files: map[string]string{"a.json": `[{"apiVersion": "v1"}]`},
			file:  "a.json", line: 1, contains: []string{"is a list"},
		},
		{
			name:  "invalid include glob",
			files: map[string]string{"a.yaml": ok},
			opts:  &DirectoryOptions{Include: "{a.yaml"},
			file:  ".", contains: []string{"unterminated"},
		},
	}
	r := NewRenderer(Limits{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Render(t.Context(), mapFS(tt.files), Source{Directory: tt.opts})
			if res != nil {
				t.Errorf("got %d objects with an error; renders are all or nothing", len(res.Objects))
			}
			target := ErrInvalidManifest
			if tt.opts != nil {
				target = ErrInvalidSource
			}
			wantError(t, err, tt.file, tt.line, target, tt.contains...)
		})
	}
}

func TestRenderDirectoryEmpty(t *testing.T) {
	res, err := NewRenderer(Limits{}).Render(t.Context(), mapFS(map[string]string{
		"empty.yaml":    "",
		"comments.yaml": "# nothing\n---\n# here\n",
		"empty.json":    "  \n",
		"null.json":     "null",
		"nulllist.yaml": "apiVersion: v1\nkind: ConfigMapList\nitems: null\n",
	}), Source{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Objects) != 0 {
		t.Errorf("got %q, want no objects", names(res.Objects))
	}
}

func TestRenderDirectoryRepositoryError(t *testing.T) {
	repo := escapingFS{FS: repoFixture(t), bad: "apps/plain/multi.yaml"}
	res, err := NewRenderer(Limits{}).Render(t.Context(), repo, Source{Path: "apps/plain"})
	if res != nil {
		t.Error("got a result with an error")
	}
	wantError(t, err, "apps/plain/multi.yaml", 0, errSymlinkEscape)
}
