package appset

import (
	"testing"
)

func TestRenderFlat(t *testing.T) {
	params := map[string]any{
		"name":                   "prod-us-east",
		"metadata.labels.region": "us-east",
		"path[0]":                "apps",
		"count":                  3,
	}
	tmpl := parseValue(t, `
metadata:
  name: 'myapp-{{name}}'
  annotations:
    'example.com/{{ name }}': '{{metadata.labels.region}}'
spec:
  spaces: '{{ name }}|{{name}}{{name}}|{{  path[0]	}}'
  unknown: '{{nope}} {{}} {{ }}'
  notAString: '{{count}}'
  unclosed: 'x {{name'
  braces: '{{{name}}}'
  goSyntaxIsText: '{{ .name }}'
  replicas: 2
  enabled: true
  nothing: null
  list: ['{{name}}', 1, {k: '{{path[0]}}'}]
`)
	got, err := Render(tmpl, params, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	wantYAML(t, got, `
metadata:
  name: myapp-prod-us-east
  annotations:
    example.com/prod-us-east: us-east
spec:
  spaces: prod-us-east|prod-us-eastprod-us-east|apps
  unknown: '{{nope}} {{}} {{ }}'
  notAString: '{{count}}'
  unclosed: 'x {{name'
  braces: '{{{name}}}'
  goSyntaxIsText: '{{ .name }}'
  replicas: 2
  enabled: true
  nothing: null
  list: [prod-us-east, 1, {k: apps}]
`)
	// The template is left as it was.
	wantYAML(t, tmpl.(map[string]any)["metadata"], `{name: 'myapp-{{name}}', annotations: {'example.com/{{ name }}': '{{metadata.labels.region}}'}}`)
}

func TestRenderGoTemplate(t *testing.T) {
	params := map[string]any{
		"name":     "Prod_US",
		"metadata": map[string]any{"labels": map[string]string{"region": "us-east"}},
		"n":        3,
		"list":     []any{"a", "b"},
	}
	cases := []struct {
		name    string
		tmpl    string
		options []string
		want    string
		wantErr []string
	}{
		{name: "a field", tmpl: `{{ .metadata.labels.region }}`, want: "us-east"},
		{name: "sprig upper", tmpl: `{{ .name | upper }}`, want: "PROD_US"},
		{name: "sprig default on a missing key", tmpl: `{{ default "x" .missing }}`, want: "x"},
		{name: "a missing key without options", tmpl: `{{ .missing }}`, want: "<no value>"},
		{name: "sprig arithmetic", tmpl: `{{ add .n 1 }}`, want: "4"},
		{name: "normalize", tmpl: `{{ normalize .name }}`, want: "prod-us"},
		{name: "toYaml", tmpl: `{{ toYaml .list }}`, want: "- a\n- b"},
		{name: "fromYaml", tmpl: `{{ (fromYaml "a: {b: c}").a.b }}`, want: "c"},
		{name: "text without actions", tmpl: `plain {text}`, want: "plain {text}"},
		{
			name:    "missingkey=error names the key and the field",
			tmpl:    `{{ .missing }}`,
			options: []string{"missingkey=error"},
			wantErr: []string{`template: metadata.name:1:3: executing "metadata.name" at <.missing>: map has no entry for key "missing"`},
		},
		{
			name:    "sprig default with missingkey=error still fails",
			tmpl:    `{{ default "x" .missing }}`,
			options: []string{"missingkey=error"},
			wantErr: []string{`map has no entry for key "missing"`},
		},
		{name: "env is not available", tmpl: `{{ env "HOME" }}`, wantErr: []string{`function "env" not defined`}},
		{name: "expandenv is not available", tmpl: `{{ expandenv "$HOME" }}`, wantErr: []string{`function "expandenv" not defined`}},
		{name: "getHostByName is not available", tmpl: `{{ getHostByName "example.com" }}`, wantErr: []string{`function "getHostByName" not defined`}},
		{name: "a parse error", tmpl: `{{ .name `, wantErr: []string{`template: metadata.name:1:`}},
		{name: "an unknown option", tmpl: `x`, options: []string{"missingkey=bogus"}, wantErr: []string{`unsupported goTemplateOptions entry "missingkey=bogus"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tmpl := map[string]any{"metadata": map[string]any{"name": c.tmpl}}
			got, err := Render(tmpl, params, true, c.options)
			if c.wantErr != nil {
				wantError(t, err, c.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			name := got.(map[string]any)["metadata"].(map[string]any)["name"]
			if name != c.want {
				t.Errorf("got %q, want %q", name, c.want)
			}
		})
	}
}

func TestRenderErrors(t *testing.T) {
	t.Run("keys rendering to the same name", func(t *testing.T) {
		_, err := Render(map[string]any{"labels": map[string]any{"{{a}}": "1", "b": "2"}}, map[string]any{"a": "b"}, false, nil)
		wantError(t, err, `labels.{{a}}: two keys render to "b"`)
	})
	t.Run("a value that is not JSON-compatible", func(t *testing.T) {
		_, err := Render(map[string]any{"spec": map[string]any{"x": map[string]string{}}}, nil, false, nil)
		wantError(t, err, "spec.x: cannot render a map[string]string")
	})
}

func TestPatch(t *testing.T) {
	const app = `
metadata:
  name: myapp-prod
  annotations: {a: "1"}
  finalizers: [keep-me]
spec:
  project: default
  source:
    repoURL: https://git.example.com/apps.git
    path: apps/prod
    helm:
      valueFiles: [values.yaml]
  syncPolicy:
    automated: {prune: false}
`
	params := map[string]any{"env": "prod", "autoPrune": true, "patch": false}
	cases := []struct {
		name    string
		patch   string
		options []string
		want    string
		wantErr []string
	}{
		{
			name: "a YAML patch: objects merge, lists and scalars replace, null deletes",
			patch: `
spec:
  source:
    helm:
      valueFiles:
      - values.yaml
      - values-{{ .env }}.yaml
  syncPolicy:
    automated:
      prune: {{ .autoPrune }}
metadata:
  annotations: null
  finalizers: []
  labels:
    env: {{ .env | quote }}
`,
			want: `
metadata:
  name: myapp-prod
  finalizers: []
  labels: {env: prod}
spec:
  project: default
  source:
    repoURL: https://git.example.com/apps.git
    path: apps/prod
    helm:
      valueFiles: [values.yaml, values-prod.yaml]
  syncPolicy:
    automated: {prune: true}
`,
		},
		{
			name:  "a JSON patch",
			patch: `{"spec": {"project": "{{ .env }}-project"}}`,
			want: `
metadata:
  name: myapp-prod
  annotations: {a: "1"}
  finalizers: [keep-me]
spec:
  project: prod-project
  source:
    repoURL: https://git.example.com/apps.git
    path: apps/prod
    helm:
      valueFiles: [values.yaml]
  syncPolicy:
    automated: {prune: false}
`,
		},
		{
			name:  "a patch rendering to nothing leaves the Application as is",
			patch: "{{- if .patch }}\nspec: {project: other}\n{{- end }}\n",
			want:  app,
		},
		{
			name:    "a patch that is not an object",
			patch:   `- {{ .env }}`,
			wantErr: []string{`templatePatch: the rendered patch is ["prod"], not an object`},
		},
		{
			name:    "a patch that is not YAML",
			patch:   "spec: [{{ .env }}",
			wantErr: []string{`templatePatch: the rendered patch is not YAML or JSON`},
		},
		{
			name:    "a missing key with missingkey=error",
			patch:   `spec: {project: "{{ .project }}"}`,
			options: []string{"missingkey=error"},
			wantErr: []string{`template: templatePatch:1:20: executing "templatePatch" at <.project>: map has no entry for key "project"`},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			orig := parseValue(t, app).(map[string]any)
			got, err := Patch(orig, c.patch, params, c.options)
			if c.wantErr != nil {
				wantError(t, err, c.wantErr...)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantYAML(t, got, c.want)
			wantYAML(t, orig, app) // not modified
		})
	}
}
