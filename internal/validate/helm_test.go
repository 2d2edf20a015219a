package validate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/ferrycd/ferry/internal/render"
)

// helmRepo is a repository with charts: one three Applications render (a
// single-source one with a value file; multi-source ones with a $ref value
// file and a chart from a Helm repository, or a $ref file that does not
// exist), one no Application names (with a vendored subchart and a
// template that parses as a manifest), a library chart and a chart whose
// template does not parse.
var helmRepo = map[string]string{
	"charts/web/Chart.yaml":          "apiVersion: v2\nname: web\nversion: 0.1.0\n",
	"charts/web/values.yaml":         "replicas: 1\ntier: default\n",
	"charts/web/values-staging.yaml": "tier: staging\n",
	"charts/web/templates/_helpers.tpl": `{{- define "web.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}
`,
	"charts/web/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
  labels:
    {{- include "web.labels" . | nindent 4 }}
data:
  tier: {{ .Values.tier | quote }}
  namespace: {{ .Release.Namespace | quote }}
`,
	"env/production/web-values.yaml": "tier: production\n",
	"apps/web-staging.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web-staging, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://git.example.com/gitops.git
    targetRevision: main
    path: charts/web
    helm:
      valueFiles: [values-staging.yaml]
  destination: {server: https://kubernetes.default.svc, namespace: web-staging}
`,
	"apps/web-production.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web-production, namespace: argocd}
spec:
  project: default
  sources:
    - repoURL: https://git.example.com/gitops.git
      targetRevision: main
      path: charts/web
      helm:
        valueFiles: [$values/env/production/web-values.yaml]
    - repoURL: https://git.example.com/gitops.git
      targetRevision: main
      ref: values
    - repoURL: https://charts.example.com
      chart: redis
      targetRevision: 19.0.0
  destination: {server: https://kubernetes.default.svc, namespace: web}
`,
	"apps/web-canary.yaml": `apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web-canary, namespace: argocd}
spec:
  project: default
  sources:
    - repoURL: https://git.example.com/gitops.git
      path: charts/web
      helm:
        valueFiles: [$values/env/canary/web-values.yaml]
    - repoURL: https://git.example.com/gitops.git
      ref: values
  destination: {server: https://kubernetes.default.svc, namespace: web}
`,
	"charts/standalone/Chart.yaml":  "apiVersion: v2\nname: standalone\nversion: 1.0.0\n",
	"charts/standalone/values.yaml": "greeting: hello\n",
	// Valid YAML with apiVersion and kind: a plain-manifest directory, were
	// the chart's subtree not excluded.
	"charts/standalone/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: "{{ .Release.Name }}-greeting"
data:
  greeting: "{{ .Values.greeting }}"
`,
	"charts/standalone/charts/sub/Chart.yaml":  "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
	"charts/standalone/charts/sub/values.yaml": "{}\n",
	"charts/standalone/charts/sub/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: "{{ .Release.Name }}-sub"
`,
	"charts/standalone/charts/sub/kustomization.yaml": "resources: [templates/configmap.yaml]\n",
	"charts/lib/Chart.yaml":                           "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
	"charts/lib/templates/_names.tpl":                 `{{- define "lib.name" -}}{{ .Chart.Name }}{{- end }}` + "\n",
	"charts/broken/Chart.yaml":                        "apiVersion: v2\nname: broken\nversion: 0.0.1\n",
	"charts/broken/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}
data:
  key: {{ .Values.key | default "x" }
`,
}

// TestHelmUnits: every chart an Application renders is rendered as the
// Application's (release, namespace, value files, $ref value files read
// from this repository), a chart no Application names on its own with its
// defaults, a library chart not at all, and nothing inside a chart is a
// unit of its own.
func TestHelmUnits(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, helmRepo)
	r, err := Run(t.Context(), Options{Root: dir})
	if err != nil {
		t.Fatal(err)
	}
	units := map[string]UnitSummary{}
	for _, u := range r.Units {
		units[u.Name] = u
	}
	for name, want := range map[string]UnitSummary{
		"application argocd/web-staging (charts/web)":              {Kind: UnitApplication, Path: "charts/web", Objects: 1},
		"application argocd/web-production (charts/web, source 1)": {Kind: UnitApplication, Path: "charts/web", Objects: 1},
		"application argocd/web-canary (charts/web, source 1)":     {Kind: UnitApplication, Path: "charts/web", Objects: 0},
		"chart charts/standalone":                                  {Kind: UnitChart, Path: "charts/standalone", Objects: 2},
		"chart charts/broken":                                      {Kind: UnitChart, Path: "charts/broken", Objects: 0},
		"directory apps":                                           {Kind: UnitDirectory, Path: "apps", Objects: 3},
	} {
		want.Name = name
		if got, ok := units[name]; !ok || got != want {
			t.Errorf("unit %q: %+v (found: %v), want %+v", name, got, ok, want)
		}
		delete(units, name)
	}
	for name := range units {
		t.Errorf("unexpected unit %q", name) // a chart's templates or subchart, the library chart, charts/web on its own
	}

	var got []string
	for _, f := range r.Findings {
		got = append(got, fmt.Sprintf("%s %s %s:%d %s", f.Severity, f.Rule, f.File, f.Line, f.Message))
	}
	want := []string{
		"info render apps/web-production.yaml:1 Application argocd/web-production: chart redis from https://charts.example.com is not in this repository",
		"error render charts/broken/templates/configmap.yaml:6 invalid manifest: render chart broken: parse error at (broken/templates/configmap.yaml:6)",
		"error render env/canary/web-values.yaml:0 source of the Application in apps/web-canary.yaml:1: invalid source: value file \"$values/env/canary/web-values.yaml\" does not exist",
	}
	if len(got) != len(want) {
		t.Fatalf("%d findings, want %d:\n  %s", len(got), len(want), strings.Join(got, "\n  "))
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("finding %d:\n  got  %s\n  want %s…", i, got[i], want[i])
		}
	}
}

// TestHelmUnitSources: the sources Discover gives the renderer make the
// objects the controller would: the Application's release name and
// destination namespace, its value files over the chart's defaults.
func TestHelmUnitSources(t *testing.T) {
	fsys := fstest.MapFS{}
	for name, content := range helmRepo {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	units, _, err := Discover(fsys)
	if err != nil {
		t.Fatal(err)
	}
	r := render.NewRenderer(render.Limits{})
	for _, tc := range []struct {
		unit, name, namespace, tier string
	}{
		{"application argocd/web-staging (charts/web)", "web-staging-settings", "web-staging", "staging"},
		{"application argocd/web-production (charts/web, source 1)", "web-production-settings", "web", "production"},
	} {
		i := slices.IndexFunc(units, func(u Unit) bool { return u.Name == tc.unit })
		if i < 0 {
			t.Fatalf("no unit %q", tc.unit)
		}
		res, err := r.Render(t.Context(), fsys, units[i].Source)
		if err != nil {
			t.Fatalf("%s: %v", tc.unit, err)
		}
		if len(res.Objects) != 1 {
			t.Fatalf("%s: %d objects, want 1", tc.unit, len(res.Objects))
		}
		cm := res.Objects[0]
		data := cm.Object["data"].(map[string]any)
		if cm.GetName() != tc.name || data["tier"] != tc.tier || data["namespace"] != tc.namespace ||
			cm.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
			t.Errorf("%s: ConfigMap %s labels %v data %v, want %s with tier %s in %s, managed by Helm",
				tc.unit, cm.GetName(), cm.GetLabels(), data, tc.name, tc.tier, tc.namespace)
		}
	}
	i := slices.IndexFunc(units, func(u Unit) bool { return u.Name == "chart charts/standalone" })
	if i < 0 || units[i].Source.Helm == nil || units[i].Source.Helm.ReleaseName != "standalone" {
		t.Fatalf("chart charts/standalone: %+v, want release standalone", units)
	}
	res, err := r.Render(t.Context(), fsys, units[i].Source)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range res.Objects {
		names = append(names, o.GetName())
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"standalone-greeting", "standalone-sub"}) {
		t.Errorf("chart charts/standalone rendered %v, want its ConfigMap and its subchart's", names)
	}
}

// TestHelmLocation: a Helm error's template, in each form Helm names it,
// becomes the finding's file and line when the chart holds it; a value file
// its repository path.
func TestHelmLocation(t *testing.T) {
	fsys := fstest.MapFS{
		"charts/app/templates/deploy.yaml":           {},
		"charts/app/charts/db/templates/stsset.yaml": {},
		"charts/app/values-prod.yaml":                {},
	}
	u := &Unit{Path: "charts/app", Source: render.Source{Path: "charts/app", Helm: &render.HelmOptions{
		ReleaseName: "app", ValueFiles: []string{"values-prod.yaml", "$values/env/prod.yaml", "../../shared.yaml", "../../../outside.yaml"}}}}
	for _, tc := range []struct {
		err  error
		file string
		line int
	}{
		{errors.New("render chart app: parse error at (app/templates/deploy.yaml:12): unexpected \"}\" in operand"), "charts/app/templates/deploy.yaml", 12},
		{errors.New("render chart app: execution error at (app/templates/deploy.yaml:3:14): replicas is required"), "charts/app/templates/deploy.yaml", 3},
		{errors.New("render chart app: app/charts/db/templates/stsset.yaml:7:3\n  executing \"app/charts/db/templates/stsset.yaml\" at <.Values.x>:\n    nil pointer"), "charts/app/charts/db/templates/stsset.yaml", 7},
		{errors.New("render chart app: template app/templates/deploy.yaml: invalid YAML: line 3"), "charts/app/templates/deploy.yaml", 0},
		{errors.New("render chart app: template app/templates/gone.yaml: invalid YAML"), "charts/app", 0}, // not in the chart directory
		{&render.Error{File: "values-prod.yaml", Err: errors.New("bad")}, "charts/app/values-prod.yaml", 0},
		{&render.Error{File: "$values/env/prod.yaml", Err: errors.New("missing")}, "env/prod.yaml", 0},
		{&render.Error{File: "../../shared.yaml", Err: errors.New("missing")}, "shared.yaml", 0},
		{&render.Error{File: "../../../outside.yaml", Err: errors.New("outside")}, "charts/app", 0},
	} {
		f := Finding{File: u.Path}
		helmLocation(&f, u, fsys, tc.err)
		if f.File != tc.file || f.Line != tc.line {
			t.Errorf("%q: %s:%d, want %s:%d", tc.err, f.File, f.Line, tc.file, tc.line)
		}
	}
}

// TestReleaseName: a standalone chart is released as its directory's name,
// made a valid release name.
func TestReleaseName(t *testing.T) {
	for dir, want := range map[string]string{
		"charts/platform": "platform", "charts/My_Chart": "my-chart", ".": "release-name",
		"x/" + strings.Repeat("a", 60): strings.Repeat("a", 53),
	} {
		if got := releaseName(dir); got != want {
			t.Errorf("releaseName(%q) = %q, want %q", dir, got, want)
		}
	}
}
