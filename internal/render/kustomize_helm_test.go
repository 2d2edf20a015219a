package render

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/filesys"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/internal/helm/helmtest"
)

// appChart is a chart with what kustomize's helmCharts options act on: values, a namespaced
// object that sets its namespace and one that does not, a CRD, a hook and a test.
func appChart() helmtest.Files {
	return helmtest.Files{
		"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.2.3\nappVersion: \"1.27\"\n",
		"values.yaml": `replicaCount: 1
image:
  repository: nginx
  tag: "1.27"
greeting: hello
labels:
  tier: web
ports: [80]
`,
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-app
  namespace: {{ .Release.Namespace }}
  labels: {{- toYaml .Values.labels | nindent 4 }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app: {{ .Release.Name }}-app
  template:
    metadata:
      labels:
        app: {{ .Release.Name }}-app
    spec:
      containers:
      - name: app
        image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
        ports:
        {{- range .Values.ports }}
        - containerPort: {{ . }}
        {{- end }}
`,
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  greeting: {{ .Values.greeting | quote }}
  namespace: {{ .Release.Namespace | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  {{- if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}
  monitoring: "yes"
  {{- end }}
`,
		"templates/hook.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .Release.Name }}-migrate
  annotations:
    helm.sh/hook: pre-install
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: migrate
        image: busybox
`,
		"templates/tests/test.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ .Release.Name }}-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
  - name: test
    image: busybox
`,
		"crds/widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
	}
}

// withChart adds a chart's files under dir to a repository's files.
func withChart(files map[string]string, dir string, chart helmtest.Files) map[string]string {
	for p, content := range chart {
		files[dir+"/"+p] = content
	}
	return files
}

// fakeFetcher serves chart archives packaged by the test, by repository and name, and records
// what it was asked for.
type fakeFetcher struct {
	charts map[string][]byte // "repo name" → archive

	mu    sync.Mutex
	calls []string
}

func (f *fakeFetcher) FetchChart(_ context.Context, repoURL, name, version string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, repoURL+" "+name+" "+version)
	if data, ok := f.charts[repoURL+" "+name]; ok {
		return data, nil
	}
	return nil, fmt.Errorf("chart %s not found in %s", name, repoURL)
}

var enableHelm = &KustomizeOptions{EnableHelm: true}

func renderHelmKustomization(t *testing.T, files map[string]string, src Source) *Result {
	t.Helper()
	if src.Path == "" {
		src.Path = "app"
	}
	if src.Kustomize == nil {
		src.Kustomize = enableHelm
	}
	res, err := NewRenderer(Limits{}).Render(t.Context(), mapFS(files), src)
	if err != nil {
		t.Fatal(err)
	}
	if res.Type != TypeKustomize {
		t.Errorf("Type = %q, want %q", res.Type, TypeKustomize)
	}
	for _, obj := range res.Objects {
		if _, ok := obj.GetAnnotations()["internal.config.kubernetes.io/helm-generated"]; ok {
			t.Errorf("%s/%s keeps kustomize's internal helm-generated annotation", obj.GetKind(), obj.GetName())
		}
	}
	return res
}

func byName(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s/%s in %q", kind, name, names(objs))
	return nil
}

func nestedString(t *testing.T, obj *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	v, _, err := unstructured.NestedFieldNoCopy(obj.Object, fields...)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

func TestKustomizeHelmChartsDisabledByDefault(t *testing.T) {
	files := withChart(map[string]string{
		"app/kustomization.yaml": "helmCharts:\n- name: app\n  releaseName: prod\n",
	}, "app/charts/app", appChart())
	for _, opts := range []*KustomizeOptions{nil, {Namespace: "prod"}} {
		_, err := NewRenderer(Limits{}).Render(t.Context(), mapFS(files), Source{Path: "app", Kustomize: opts})
		wantError(t, err, "app/kustomization.yaml", 0, ErrNotAllowed,
			"Helm chart inflation is disabled", "enable it with kustomize.buildOptions --enable-helm")
	}
	// The deprecated form, and one in a base, are refused too.
	files = map[string]string{
		"app/kustomization.yaml":  "resources: [../base]\n",
		"base/kustomization.yaml": "helmChartInflationGenerator:\n- chartName: app\n",
	}
	_, err := NewRenderer(Limits{}).Render(t.Context(), mapFS(files), Source{Path: "app"})
	wantError(t, err, "base/kustomization.yaml", 0, ErrNotAllowed, "--enable-helm")
}

func TestKustomizeHelmLocalChart(t *testing.T) {
	files := withChart(map[string]string{
		"app/kustomization.yaml": `namespace: shop
resources: [service.yaml]
helmCharts:
- name: app
  releaseName: prod
  valuesInline:
    replicaCount: 2
`,
		"app/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n",
	}, "app/charts/app", appChart())
	res := renderHelmKustomization(t, files, Source{})
	got := names(res.Objects)
	want := []string{"ConfigMap/prod-config", "Service/web", "Deployment/prod-app", "Job/prod-migrate", "Pod/prod-test"} // kustomize's legacy order
	if !slices.Equal(got, want) {
		t.Fatalf("objects = %q, want %q", got, want)
	}
	// The kustomization's namespace is the release's; kustomize's namespace transformer
	// leaves the chart's objects as Helm rendered them.
	deploy := byName(t, res.Objects, "Deployment", "prod-app")
	if deploy.GetNamespace() != "shop" || nestedString(t, deploy, "spec", "replicas") != "2" {
		t.Errorf("Deployment: namespace %q, replicas %s", deploy.GetNamespace(), nestedString(t, deploy, "spec", "replicas"))
	}
	cm := byName(t, res.Objects, "ConfigMap", "prod-config")
	if cm.GetNamespace() != "" || nestedString(t, cm, "data", "namespace") != "shop" {
		t.Errorf("ConfigMap: namespace %q, .Release.Namespace %q", cm.GetNamespace(), nestedString(t, cm, "data", "namespace"))
	}
	if svc := byName(t, res.Objects, "Service", "web"); svc.GetNamespace() != "shop" {
		t.Errorf("Service namespace = %q, want the kustomization's", svc.GetNamespace())
	}
}

func TestKustomizeHelmFetchedChart(t *testing.T) {
	archive := helmtest.PackageFiles(t, appChart())
	files := map[string]string{
		"app/kustomization.yaml": `helmCharts:
- name: app
  repo: https://charts.example.com/stable
  version: 1.2.3
  releaseName: prod
  namespace: apps
  valuesFile: values/prod.yaml
  valuesInline:
    greeting: inline
    image: {tag: "1.28"}
  additionalValuesFiles: [values/extra.yaml]
- name: app
  repo: oci://registry.example.com/charts/
  releaseName: canary
`,
		"app/values/prod.yaml":  "replicaCount: 3\ngreeting: from-file\nimage:\n  repository: registry.example.com/nginx\n",
		"app/values/extra.yaml": "labels: {tier: edge}\n",
	}
	fetch := &fakeFetcher{charts: map[string][]byte{
		"https://charts.example.com/stable app": archive,
		"oci://registry.example.com/charts app": archive,
	}}
	res := renderHelmKustomization(t, files, Source{Dependencies: fetch})
	wantCalls := []string{"https://charts.example.com/stable app 1.2.3", "oci://registry.example.com/charts app "}
	if !slices.Equal(fetch.calls, wantCalls) {
		t.Errorf("fetched %q, want %q", fetch.calls, wantCalls)
	}
	deploy := byName(t, res.Objects, "Deployment", "prod-app")
	for field, want := range map[string]string{
		"namespace":   "apps",
		"replicas":    "3",                               // valuesFile, instead of the chart's values.yaml
		"image":       "registry.example.com/nginx:1.28", // valuesInline overrides valuesFile
		"labels.tier": "edge",                            // additionalValuesFiles come last
	} {
		var got string
		switch field {
		case "namespace":
			got = deploy.GetNamespace()
		case "replicas":
			got = nestedString(t, deploy, "spec", "replicas")
		case "image":
			containers, _, _ := unstructured.NestedSlice(deploy.Object, "spec", "template", "spec", "containers")
			got = fmt.Sprint(containers[0].(map[string]any)["image"])
		case "labels.tier":
			got = deploy.GetLabels()["tier"]
		}
		if got != want {
			t.Errorf("Deployment %s = %q, want %q", field, got, want)
		}
	}
	if got := nestedString(t, byName(t, res.Objects, "ConfigMap", "prod-config"), "data", "greeting"); got != "inline" {
		t.Errorf("greeting = %q, want valuesInline's", got)
	}
	if canary := byName(t, res.Objects, "Deployment", "canary-app"); canary.GetNamespace() != "default" {
		t.Errorf("canary namespace = %q, want helm's default", canary.GetNamespace())
	}
}

func TestKustomizeHelmChartLookup(t *testing.T) {
	archive := helmtest.PackageFiles(t, appChart())
	chart := appChart()
	chart["values.yaml"] = strings.Replace(chart["values.yaml"], "greeting: hello", "greeting: vendored", 1)
	tests := []struct {
		name    string
		files   map[string]string
		fetched bool
	}{
		{
			name: "pulled layout for a versioned chart with a repo",
			files: withChart(map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: app, repo: https://c.example.com, version: 1.2.3, releaseName: prod}\n"},
				"app/charts/app-1.2.3/app", chart),
		},
		{
			name: "chartHome",
			files: withChart(map[string]string{"app/kustomization.yaml": "helmGlobals: {chartHome: vendor/helm}\nhelmCharts:\n- {name: app, repo: https://c.example.com, releaseName: prod}\n"},
				"app/vendor/helm/app", chart),
		},
		{
			name: "a chart at <chartHome>/<name> is not used for a versioned chart with a repo",
			files: withChart(map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: app, repo: https://c.example.com, version: 1.2.3, releaseName: prod}\n"},
				"app/charts/app", chart),
			fetched: true,
		},
		{
			name: "the deprecated helmChartInflationGenerator",
			files: withChart(map[string]string{"app/kustomization.yaml": "helmChartInflationGenerator:\n- {chartName: app, chartHome: lib, releaseName: prod}\n"},
				"app/lib/app", chart),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fetch := &fakeFetcher{charts: map[string][]byte{"https://c.example.com app": archive}}
			res := renderHelmKustomization(t, tt.files, Source{Dependencies: fetch})
			want := "vendored"
			if tt.fetched {
				want = "hello"
			}
			if got := nestedString(t, byName(t, res.Objects, "ConfigMap", "prod-config"), "data", "greeting"); got != want {
				t.Errorf("greeting = %q, want %q (fetched: %q)", got, want, fetch.calls)
			}
			if fetched := len(fetch.calls) > 0; fetched != tt.fetched {
				t.Errorf("fetched %q", fetch.calls)
			}
		})
	}
}

func TestKustomizeHelmCRDsHooksAndTests(t *testing.T) {
	tests := []struct {
		options string
		want    []string
	}{
		{"", []string{"ConfigMap/r-config", "Deployment/r-app", "Pod/r-test", "Job/r-migrate"}},
		{"includeCRDs: true", []string{"CustomResourceDefinition/widgets.example.com", "ConfigMap/r-config", "Deployment/r-app", "Pod/r-test", "Job/r-migrate"}},
		{"includeCRDs: false", []string{"ConfigMap/r-config", "Deployment/r-app", "Pod/r-test", "Job/r-migrate"}},
		{"skipTests: true", []string{"ConfigMap/r-config", "Deployment/r-app", "Job/r-migrate"}},
		{"skipHooks: true", []string{"ConfigMap/r-config", "Deployment/r-app"}},
	}
	for _, tt := range tests {
		t.Run(tt.options, func(t *testing.T) {
			files := withChart(map[string]string{
				"app/kustomization.yaml": "sortOptions: {order: fifo}\nhelmCharts:\n- name: app\n  releaseName: r\n  " + tt.options + "\n",
			}, "app/charts/app", appChart())
			if got := names(renderHelmKustomization(t, files, Source{}).Objects); !slices.Equal(got, tt.want) {
				t.Errorf("objects = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestKustomizeHelmChartInBase proves kustomize transforms the charts' output: an overlay
// patches the Deployment a base's chart renders, and passes its namespace down to the chart.
func TestKustomizeHelmChartInBase(t *testing.T) {
	files := withChart(map[string]string{
		"base/kustomization.yaml": "resources: [cm.yaml]\nhelmCharts:\n- {name: app, releaseName: web}\n",
		"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
		"overlays/prod/kustomization.yaml": `namespace: prod
namePrefix: prod-
resources: [../../base]
patches:
- target: {kind: Deployment, name: web-app}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 5
labels:
- pairs: {env: prod}
`,
	}, "base/charts/app", appChart())
	res := renderHelmKustomization(t, files, Source{Path: "overlays/prod"})
	deploy := byName(t, res.Objects, "Deployment", "prod-web-app")
	if got := nestedString(t, deploy, "spec", "replicas"); got != "5" {
		t.Errorf("replicas = %s, want the overlay's patch", got)
	}
	if deploy.GetNamespace() != "prod" || deploy.GetLabels()["env"] != "prod" {
		t.Errorf("Deployment namespace %q, labels %v", deploy.GetNamespace(), deploy.GetLabels())
	}
	cm := byName(t, res.Objects, "ConfigMap", "prod-web-config")
	if got := nestedString(t, cm, "data", "namespace"); got != "prod" || cm.GetNamespace() != "" {
		t.Errorf("chart's ConfigMap: .Release.Namespace %q, namespace %q; want the overlay's, and none", got, cm.GetNamespace())
	}
	if settings := byName(t, res.Objects, "ConfigMap", "prod-settings"); settings.GetNamespace() != "prod" {
		t.Errorf("base's own ConfigMap namespace = %q", settings.GetNamespace())
	}
}

// TestKustomizeHelmNamespaceOption checks Argo CD's semantics: its namespace option is set in
// the root kustomization (`kustomize edit set namespace`), so it is the namespace of the
// root's charts and of its bases' charts, and not of charts that set their own.
func TestKustomizeHelmNamespaceOption(t *testing.T) {
	files := withChart(withChart(map[string]string{
		"app/kustomization.yaml":  "namespace: mine\nresources: [../base]\nhelmCharts:\n- {name: app, releaseName: root}\n- {name: app, releaseName: own, namespace: fixed}\n",
		"base/kustomization.yaml": "helmCharts:\n- {name: app, releaseName: base}\n",
	}, "app/charts/app", appChart()), "base/charts/app", appChart())
	res := renderHelmKustomization(t, files, Source{Kustomize: &KustomizeOptions{EnableHelm: true, Namespace: "argo"}})
	for release, want := range map[string]string{"root": "argo", "own": "fixed", "base": "argo"} {
		if got := nestedString(t, byName(t, res.Objects, "ConfigMap", release+"-config"), "data", "namespace"); got != want {
			t.Errorf("release %s: .Release.Namespace = %q, want %q", release, got, want)
		}
	}
}

func TestKustomizeHelmOrigins(t *testing.T) {
	files := withChart(map[string]string{
		"app/kustomization.yaml": "resources: [cm.yaml]\nhelmCharts:\n- {name: app, releaseName: r}\n",
		"app/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: own}\n",
	}, "app/charts/app", appChart())
	res, err := NewRenderer(Limits{}).RenderWithOrigins(t.Context(), mapFS(files), Source{Path: "app", Kustomize: enableHelm})
	if err != nil {
		t.Fatal(err)
	}
	for i, obj := range res.Objects {
		want := Origin{File: "app/kustomization.yaml"}
		if obj.GetName() == "own" {
			want = Origin{File: "app/cm.yaml", Line: 1}
		}
		if res.Origins[i] != want {
			t.Errorf("%s/%s: origin %+v, want %+v", obj.GetKind(), obj.GetName(), res.Origins[i], want)
		}
		for key := range obj.GetAnnotations() {
			if strings.Contains(key, "config.kubernetes.io") {
				t.Errorf("%s/%s keeps kustomize's annotation %s", obj.GetKind(), obj.GetName(), key)
			}
		}
	}
}

func TestKustomizeHelmRefusals(t *testing.T) {
	chart := func(kustomization string, extra map[string]string) map[string]string {
		files := withChart(map[string]string{"app/kustomization.yaml": kustomization}, "app/charts/app", appChart())
		maps.Copy(files, extra)
		return files
	}
	tests := []struct {
		name     string
		files    map[string]string
		fsys     func(fstest.MapFS) fs.FS
		fetch    ChartFetcher
		file     string
		target   error
		contains []string
	}{
		{
			name:  "values file outside the repository",
			files: chart("helmCharts:\n- {name: app, valuesFile: ../../etc/passwd}\n", nil),
			file:  "app/kustomization.yaml", target: ErrOutsideRepository, contains: []string{"helmCharts app", "../../etc/passwd", "leaves the repository"},
		},
		{
			name:  "values file outside the kustomization's directory",
			files: chart("helmCharts:\n- {name: app, additionalValuesFiles: [../secrets/values.yaml]}\n", map[string]string{"secrets/values.yaml": "a: b\n"}),
			file:  "app/kustomization.yaml", target: ErrOutsideRepository, contains: []string{"additionalValuesFiles", "not in or below"},
		},
		{
			name:  "absolute values file",
			files: chart("helmCharts:\n- {name: app, valuesFile: /etc/passwd}\n", nil),
			file:  "app/kustomization.yaml", target: ErrOutsideRepository, contains: []string{"/etc/passwd"},
		},
		{
			name:  "remote values file",
			files: chart("helmCharts:\n- {name: app, valuesFile: 'https://example.com/values.yaml'}\n", nil),
			file:  "app/kustomization.yaml", target: ErrRemoteReference, contains: []string{"https://example.com/values.yaml"},
		},
		{
			name:  "values file behind a symlink out of the repository",
			files: chart("helmCharts:\n- {name: app, valuesFile: values.yaml}\n", map[string]string{"app/values.yaml": "a: b\n"}),
			fsys:  func(m fstest.MapFS) fs.FS { return escapingFS{FS: m, bad: "app/values.yaml"} },
			file:  "app/values.yaml", target: errSymlinkEscape,
		},
		{
			name:  "missing values file",
			files: chart("helmCharts:\n- {name: app, valuesFile: prod.yaml}\n", nil),
			file:  "app/kustomization.yaml", target: ErrInvalidSource, contains: []string{"prod.yaml", "does not exist"},
		},
		{
			name:  "chart directory outside the repository",
			files: chart("helmGlobals: {chartHome: ../../..}\nhelmCharts:\n- {name: app}\n", nil),
			file:  "app/kustomization.yaml", target: ErrOutsideRepository, contains: []string{"leaves the repository"},
		},
		{
			name:  "no fetcher",
			files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: redis, repo: 'https://charts.example.com', version: 1.0.0}\n"},
			file:  "app/kustomization.yaml", target: ErrRemoteReference,
			contains: []string{"helmCharts redis", "fetching charts needs", "app/charts/redis-1.0.0/redis"},
		},
		{
			name:  "no chart and no repo",
			files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: redis}\n"},
			file:  "app/kustomization.yaml", target: ErrInvalidSource, contains: []string{"no repo specified", "app/charts/redis"},
		},
		{
			name:  "repository alias",
			files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: redis, repo: stable}\n"},
			fetch: &fakeFetcher{}, file: "app/kustomization.yaml", target: ErrInvalidSource, contains: []string{`"stable"`},
		},
		{
			name:  "fetch failure",
			files: map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: redis, repo: 'https://charts.example.com'}\n"},
			fetch: &fakeFetcher{}, contains: []string{"app/kustomization.yaml: helmCharts redis", "not found"},
		},
		{
			name:  "bad valuesMerge",
			files: chart("helmCharts:\n- {name: app, valuesMerge: deep, valuesInline: {a: 1}}\n", nil),
			file:  "app/kustomization.yaml", target: ErrInvalidSource, contains: []string{"valuesMerge must be one of"},
		},
		{
			name:  "templated nameTemplate",
			files: chart("helmCharts:\n- {name: app, nameTemplate: '{{ randAlpha 5 }}'}\n", nil),
			file:  "app/kustomization.yaml", target: ErrNotAllowed, contains: []string{"nameTemplate"},
		},
		{
			name:  "reserved directory",
			files: chart("helmCharts:\n- {name: app}\n", map[string]string{"app/.ferry-helm/x.yaml": "a: b\n"}),
			file:  "app/kustomization.yaml", target: ErrInvalidSource, contains: []string{"app/.ferry-helm"},
		},
		{
			name: "base included with two namespaces",
			files: withChart(map[string]string{
				"app/kustomization.yaml":   "resources: [a, b]\n",
				"app/a/kustomization.yaml": "namespace: a\nresources: [../../base]\nnamePrefix: a-\n",
				"app/b/kustomization.yaml": "namespace: b\nresources: [../../base]\nnamePrefix: b-\n",
				"base/kustomization.yaml":  "helmCharts:\n- {name: app}\n",
			}, "base/charts/app", appChart()),
			file: "base/kustomization.yaml", target: ErrNotAllowed, contains: []string{`"a"`, `"b"`},
		},
		{
			name: "charts in a generators directory",
			files: map[string]string{
				"app/kustomization.yaml": "generators: [../gen]\n",
				"gen/kustomization.yaml": "helmCharts:\n- {name: app}\n",
			},
			file: "gen/kustomization.yaml", target: ErrNotAllowed, contains: []string{"generators"},
		},
		{
			name: "a HelmChartInflationGenerator configuration",
			files: map[string]string{
				"app/kustomization.yaml": "generators: [helm.yaml]\n",
				"app/helm.yaml":          "apiVersion: builtin\nkind: HelmChartInflationGenerator\nmetadata: {name: h}\nname: app\n",
			},
			file: "app/helm.yaml", target: ErrNotAllowed, contains: []string{"use helmCharts"},
		},
		{
			name:  "chart render error",
			files: chart("helmCharts:\n- {name: app, releaseName: Not_Valid}\n", nil),
			file:  "app/kustomization.yaml", target: ErrInvalidManifest, contains: []string{"helmCharts app", "Not_Valid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fsys fs.FS = mapFS(tt.files)
			if tt.fsys != nil {
				fsys = tt.fsys(mapFS(tt.files))
			}
			res, err := NewRenderer(Limits{}).Render(t.Context(), fsys, Source{Path: "app", Kustomize: enableHelm, Dependencies: tt.fetch})
			if res != nil {
				t.Errorf("got a result with an error")
			}
			if tt.file == "" {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tt.contains {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not mention %q", err, s)
					}
				}
				return
			}
			wantError(t, err, tt.file, 0, tt.target, tt.contains...)
		})
	}
}

func TestKustomizeHelmLimits(t *testing.T) {
	files := withChart(map[string]string{
		"app/kustomization.yaml": "helmCharts:\n- {name: app, releaseName: r}\n",
	}, "app/charts/app", appChart())
	_, err := NewRenderer(Limits{MaxObjects: 3}).Render(t.Context(), mapFS(files), Source{Path: "app", Kustomize: enableHelm})
	wantError(t, err, "app/kustomization.yaml", 0, ErrLimitExceeded, "helmCharts app", "Limits.MaxObjects")

	// The chart's files (about 1.8 kB) fit, their output (about 2 kB more) does not.
	_, err = NewRenderer(Limits{MaxBytes: 3000}).Render(t.Context(), mapFS(files), Source{Path: "app", Kustomize: enableHelm})
	wantError(t, err, "app/kustomization.yaml", 0, ErrLimitExceeded, "helmCharts app", "Helm output", "Limits.MaxBytes")

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = NewRenderer(Limits{}).Render(ctx, mapFS(files), Source{Path: "app", Kustomize: enableHelm})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}

	// Fetching counts against Limits.Timeout.
	files = map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: app, repo: 'https://charts.example.com'}\n"}
	_, err = NewRenderer(Limits{Timeout: 50 * time.Millisecond}).Render(t.Context(), mapFS(files),
		Source{Path: "app", Kustomize: enableHelm, Dependencies: blockingFetcher{}})
	wantError(t, err, "app", 0, ErrLimitExceeded, "Limits.Timeout")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
	}
}

// blockingFetcher fetches nothing until its context ends.
type blockingFetcher struct{}

func (blockingFetcher) FetchChart(ctx context.Context, _, _, _ string) ([]byte, error) {
	<-ctx.Done()
	return nil, context.Cause(ctx)
}

func TestKustomizeHelmWarnings(t *testing.T) {
	chart := appChart()
	chart["templates/lookup.yaml"] = `{{- $cm := lookup "v1" "ConfigMap" .Release.Namespace "existing" }}
apiVersion: v1
kind: ConfigMap
metadata: {name: looked-up}
data: {found: {{ ne (len $cm) 0 | quote }}}
`
	files := withChart(map[string]string{"app/kustomization.yaml": "helmCharts:\n- {name: app, releaseName: r}\n"}, "app/charts/app", chart)
	res := renderHelmKustomization(t, files, Source{})
	if len(res.Warnings) != 1 || !strings.HasPrefix(res.Warnings[0], "app/kustomization.yaml: helmCharts app: ") {
		t.Errorf("warnings = %q, want one about lookup, naming the kustomization and chart", res.Warnings)
	}
}

func TestMergeValues(t *testing.T) {
	file := []byte("a: 1\nnested:\n  x: file\n  y: file\nlist: [1, 2]\n")
	inline := map[string]any{"nested": map[string]any{"x": "inline", "z": "inline"}, "list": []any{3}, "b": 2}
	tests := []struct {
		mode, want string
	}{
		{valuesOverride, "a: 1\nb: 2\nlist:\n- 3\nnested:\n  x: inline\n  \"y\": file\n  z: inline\n"},
		{valuesMerge, "a: 1\nb: 2\nlist:\n- 1\n- 2\nnested:\n  x: file\n  \"y\": file\n  z: inline\n"},
	}
	for _, tt := range tests {
		got, err := mergeValues(file, inline, tt.mode)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tt.mode, got, tt.want)
		}
	}
}

// TestKustomizeHelmMatchesHelmTemplate compares Ferry's inflation with what Argo CD runs:
// kustomize's own HelmChartInflationGenerator (kustomize build --enable-helm), which runs
// `helm pull` and `helm template` with the helm CLI, on the same repository written to disk.
// Objects are compared one by one, in order. kubeVersion is always set: without it Helm's
// default depends on the build.
func TestKustomizeHelmMatchesHelmTemplate(t *testing.T) {
	bin := os.Getenv("FERRY_HELM_BIN")
	if bin == "" {
		t.Skip("FERRY_HELM_BIN is not set: `make test` sets it to the helm CLI built from tools/helm")
	}
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none")) // helm's namespace is "default"
	repo := helmtest.NewRepo(t)
	repo.PublishFiles(appChart())
	fetch := &fakeFetcher{charts: map[string][]byte{repo.URL() + " app": helmtest.PackageFiles(t, appChart())}}

	tests := []struct {
		name  string
		path  string
		files map[string]string
	}{
		{
			name: "local chart",
			files: withChart(map[string]string{
				"app/kustomization.yaml": `namespace: shop
resources: [service.yaml]
configMapGenerator:
- {name: settings, literals: [a=b]}
helmCharts:
- name: app
  releaseName: prod
  kubeVersion: 1.37.2
  valuesInline:
    replicaCount: 2
    image: {tag: "1.29"}
`,
				"app/service.yaml": "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n",
			}, "app/charts/app", appChart()),
		},
		{
			name: "fetched chart with every option",
			files: map[string]string{
				"app/kustomization.yaml": `sortOptions: {order: fifo}
resources: [service.yaml]
components: [../extra]
configMapGenerator:
- {name: settings, literals: [a=b]}
helmCharts:
- name: app
  repo: REPO
  version: 1.2.3
  releaseName: prod
  namespace: apps
  valuesFile: values/prod.yaml
  valuesMerge: merge
  valuesInline:
    greeting: inline
    replicaCount: 7
    image: {tag: "1.28"}
    ports: [8080, 8443]
  additionalValuesFiles: [values/extra.yaml]
  includeCRDs: true
  skipHooks: true
  apiVersions: [monitoring.coreos.com/v1]
  kubeVersion: v1.36.1
`,
				"app/values/prod.yaml":     "replicaCount: 3\nimage:\n  repository: registry.example.com/nginx\n",
				"app/values/extra.yaml":    "labels: {tier: edge, team: shop}\n",
				"app/service.yaml":         "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 80}]\n",
				"extra/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
				"extra/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-component}\n",
			},
		},
		{
			name: "defaults and replace and skipTests",
			files: withChart(map[string]string{
				"app/kustomization.yaml": `helmCharts:
- name: app
  kubeVersion: 1.37.2
  valuesMerge: replace
  valuesInline: {greeting: replaced, labels: {x: y}}
  skipTests: true
- name: app
  nameTemplate: literal-name
  kubeVersion: 1.37.2
  includeCRDs: false
`,
			}, "app/charts/app", appChart()),
		},
		{
			name: "base and overlay and component",
			path: "overlays/prod",
			files: withChart(withChart(map[string]string{
				"base/kustomization.yaml": "resources: [cm.yaml]\nhelmCharts:\n- {name: app, releaseName: web, kubeVersion: 1.37.2}\n",
				"base/cm.yaml":            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\n",
				"comp/kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\n" +
					"helmCharts:\n- {name: app, releaseName: extra, kubeVersion: 1.37.2, valuesInline: {greeting: component}}\n",
				"overlays/prod/kustomization.yaml": `namespace: prod
namePrefix: prod-
resources: [../../base]
components: [../../comp]
patches:
- target: {kind: Deployment, name: web-app}
  patch: |
    - op: replace
      path: /spec/replicas
      value: 5
labels:
- pairs: {env: prod}
  includeSelectors: true
`,
			}, "base/charts/app", appChart()), "comp/charts/app", appChart()),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.path == "" {
				tt.path = "app"
			}
			for p, content := range tt.files {
				tt.files[p] = strings.ReplaceAll(content, "REPO", repo.URL())
			}
			dir := t.TempDir()
			for p, content := range tt.files {
				file := filepath.Join(dir, filepath.FromSlash(p))
				if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := kustomizeWithHelm(t, bin, filepath.Join(dir, filepath.FromSlash(tt.path)))

			res, err := NewRenderer(Limits{}).Render(t.Context(), mapFS(tt.files),
				Source{Path: tt.path, Kustomize: enableHelm, Dependencies: fetch})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Objects) != len(want) {
				t.Errorf("%d objects %q, kustomize with helm built %d", len(res.Objects), names(res.Objects), len(want))
			}
			for i := range min(len(res.Objects), len(want)) {
				if !reflect.DeepEqual(res.Objects[i].Object, want[i]) {
					g, _ := yaml.Marshal(res.Objects[i].Object)
					w, _ := yaml.Marshal(want[i])
					t.Errorf("object %d:\n%s\nkustomize with helm built:\n%s", i, g, w)
				}
			}
		})
	}
}

// kustomizeWithHelm runs kustomize as Argo CD does with --enable-helm, its Helm generator
// running the helm CLI bin, on dir, and returns the objects it built.
func kustomizeWithHelm(t *testing.T, bin, dir string) []map[string]any {
	t.Helper()
	opts := kustomizeOptions()
	plugins := types.DisabledPluginConfig()
	plugins.HelmConfig = types.HelmConfig{Enabled: true, Command: bin}
	opts.PluginConfig = plugins
	resources, err := krusty.MakeKustomizer(opts).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build --enable-helm: %v", err)
	}
	var objs []map[string]any
	for _, r := range resources.Resources() {
		j, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		v, err := decodeJSON(j)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, v.(map[string]any))
	}
	return objs
}

// TestKustomizeHelmAtRepositoryRoot renders charts of a kustomization at the repository's
// root, wrapped in the options overlay.
func TestKustomizeHelmAtRepositoryRoot(t *testing.T) {
	files := withChart(map[string]string{
		"kustomization.yaml": "helmCharts:\n- {name: app, releaseName: r, valuesFile: values/prod.yaml}\n",
		"values/prod.yaml":   "greeting: root\n",
	}, "charts/app", appChart())
	res := renderHelmKustomization(t, files, Source{Path: ".", Kustomize: &KustomizeOptions{EnableHelm: true, NamePrefix: "x-"}})
	cm := byName(t, res.Objects, "ConfigMap", "x-r-config")
	if got := nestedString(t, cm, "data", "greeting"); got != "root" {
		t.Errorf("greeting = %q", got)
	}
}

// FuzzKustomizeHelm renders kustomizations with helmCharts from untrusted bytes: nothing
// panics, every error names its file, and a kustomization that renders was rewritten into one
// kustomize decodes as the original without its Helm fields.
func FuzzKustomizeHelm(f *testing.F) {
	f.Add("helmCharts:\n- {name: app, releaseName: r, valuesInline: {a: [1, {b: null}]}, valuesMerge: merge}\n")
	f.Add("resources: [cm.yaml]\nhelmGlobals: {chartHome: .}\nhelmCharts:\n- {name: charts/app, includeCRDs: true}\n")
	f.Add("namespace: x\nhelmChartInflationGenerator:\n- {chartName: app, values: values.yaml, valuesLocal: {greeting: hi}}\n")
	f.Add("helmCharts:\n- {name: app, repo: 'oci://r.example.com/c', version: '>1', devel: true}\n")
	f.Add("helmCharts:\n- {name: app, valuesFile: ../x}\n")
	f.Add("components: [c]\nhelmCharts:\n- {name: app, nameTemplate: lit, additionalValuesFiles: [values.yaml, values.yaml]}\n")
	archive := helmtest.PackageFiles(f, appChart())
	base := withChart(map[string]string{
		"app/cm.yaml":                 "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: own}\n",
		"app/values.yaml":             "greeting: file\n",
		"app/c/kustomization.yaml":    "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources: [cm.yaml]\n",
		"app/c/cm.yaml":               "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: comp}\n",
		"app/charts/app/extra/x.yaml": "a: b\n",
	}, "app/charts/app", appChart())
	r := NewRenderer(Limits{MaxObjects: 100, MaxBytes: 1 << 20})
	f.Fuzz(func(t *testing.T, kustomization string) {
		files := maps.Clone(base)
		files["app/kustomization.yaml"] = kustomization
		fsys := mapFS(files)
		fetch := &fakeFetcher{charts: map[string][]byte{"oci://r.example.com/c app": archive}}
		_, err := r.Render(t.Context(), fsys, Source{Path: "app", Kustomize: enableHelm, Dependencies: fetch})
		var re *Error
		if err != nil && !errors.As(err, &re) && !strings.Contains(err.Error(), "not found in") {
			t.Fatalf("error %q (%T) names no file", err, err)
		}
		if err != nil {
			return
		}
		sites, err := checkKustomization(t.Context(), fsys, "app", 1<<20, kustomizePolicy{helm: true})
		if err != nil {
			t.Fatalf("rendered, but the policy refuses it: %v", err)
		}
		b := &budget{limits: r.limits}
		inf, err := inflateCharts(t.Context(), fsys, sites, fetch, b)
		if err != nil {
			t.Fatalf("rendered, but inflating again fails: %v", err)
		}
		for _, site := range sites {
			data, ok := inf.files[site.file]
			if !ok {
				continue
			}
			var got types.Kustomization
			if err := got.Unmarshal(data); err != nil {
				t.Fatalf("kustomize cannot decode the rewritten %s: %v\n%s", site.file, err, data)
			}
			want := site.kustomization
			want.HelmCharts, want.HelmGlobals, want.HelmChartInflationGenerator = nil, nil, nil
			want.Components = slices.Concat([]string{helmDir}, want.Components)
			wj, _ := json.Marshal(want)
			gj, _ := json.Marshal(got)
			if string(wj) != string(gj) {
				t.Fatalf("rewritten %s:\n%s\nwant:\n%s", site.file, gj, wj)
			}
		}
	})
}
