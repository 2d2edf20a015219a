package helm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// loadApp loads appChart, packaged.
func loadApp(t testing.TB, changes map[string]string) *chart.Chart {
	t.Helper()
	ch, err := LoadArchive(packageChart(t, "app", withFiles(appChart(), changes)), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func mustRender(t testing.TB, ch *chart.Chart, opts Options) *Result {
	t.Helper()
	res, err := Render(t.Context(), ch, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// find returns the object of that kind and name.
func find(t testing.TB, res *Result, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range res.Objects {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s in %v", kind, name, kinds(res))
	return nil
}

// sameObject compares obj with the object a YAML document declares.
func sameObject(t testing.TB, obj *unstructured.Unstructured, want string) {
	t.Helper()
	var w map[string]any
	if err := yaml.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	// Through JSON both ways, so that numbers have the same types.
	gj, _ := obj.MarshalJSON()
	var g map[string]any
	if err := yaml.Unmarshal(gj, &g); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		gy, _ := yaml.Marshal(g)
		t.Errorf("%s %s:\n%s\nwant:\n%s", obj.GetKind(), obj.GetName(), gy, want)
	}
}

func TestRenderDefaults(t *testing.T) {
	ch := loadApp(t, nil)
	res := mustRender(t, ch, Options{ReleaseName: "prod", Namespace: "apps", KubeVersion: "1.37.2"})
	want := []string{
		// crds/, then the templates in Helm's install order, then the hooks
		// (Helm's kind order: the test Pod before the Job).
		"CustomResourceDefinition widgets.example.com",
		"Secret prod-app-credentials",
		"ConfigMap prod-sub",
		"ConfigMap prod-app-config",
		"Service prod-app",
		"Deployment prod-app",
		"Pod prod-app-test",
		"Job prod-app-migrate",
	}
	if got := kinds(res); !slices.Equal(got, want) {
		t.Errorf("objects:\n%v\nwant:\n%v", got, want)
	}
	sameObject(t, find(t, res, "Deployment", "prod-app"), `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prod-app
  namespace: apps
  labels:
    app.kubernetes.io/name: app
    app.kubernetes.io/instance: prod
    app.kubernetes.io/version: "4.5"
  annotations:
    kube-version: v1.37.2
    pdb-api: "false"
    monitoring-api: "false"
spec:
  replicas: 1
  selector:
    matchLabels: {app: prod-app}
  template:
    metadata:
      labels: {app: prod-app}
    spec:
      containers:
        - name: app
          image: nginx:1.27
          env:
            - {name: EXTRA, value: ""}
            - {name: EXTRA_KIND, value: string}
            - {name: LIST, value: ""}
`)
	sameObject(t, find(t, res, "ConfigMap", "prod-app-config"), `
apiVersion: v1
kind: ConfigMap
metadata:
  name: prod-app-config
data:
  greeting: hello
  file: ""
  app.conf: "listen = 8080\n"
  a.txt: "A\n"
  b.txt: "B\n"
`)
	sameObject(t, find(t, res, "ConfigMap", "prod-sub"), `
apiVersion: v1
kind: ConfigMap
metadata:
  name: prod-sub
data:
  message: from-sub
  team: platform
`)
	sameObject(t, find(t, res, "Job", "prod-app-migrate"), `
apiVersion: batch/v1
kind: Job
metadata:
  name: prod-app-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: nginx:1.27
`)
	if want := []string{"the chart calls lookup, which returns an empty result when rendering: app/templates/lookup.yaml"}; !slices.Equal(res.Warnings, want) {
		t.Errorf("warnings = %q, want %q", res.Warnings, want)
	}
	if got := find(t, res, "Secret", "prod-app-credentials").Object["stringData"]; !reflect.DeepEqual(got, map[string]any{"state": "generated"}) {
		t.Errorf("lookup's result: stringData = %v, want the branch for an empty result", got)
	}
}

// TestRenderOptions renders with every Options field and checks what each
// changes.
func TestRenderOptions(t *testing.T) {
	ch := loadApp(t, nil)
	opts := Options{
		ReleaseName: "prod",
		Namespace:   "apps",
		ValueFiles: []File{
			{Name: "values-prod.yaml", Data: []byte("replicaCount: 3\nservice:\n  type: NodePort\n")},
			{Name: "values-image.yaml", Data: []byte("image:\n  repository: ghcr.io/acme/app\n  tag: \"1.28\"\n")},
		},
		Values: "config:\n  greeting: hi\n",
		Parameters: []Parameter{
			{Name: "service.port", Value: "8080"},
			{Name: "extra", Value: "true", ForceString: true},
			{Name: "config.greeting", Value: "a,b"}, // one value: Argo CD escapes the comma
			{Name: "list", Value: "{x,y}"},          // Helm's list syntax
			{Name: "replicaCount", Value: "2"},
			{Name: "replicaCount", Value: "4"}, // the last wins
		},
		FileParameters: []File{{Name: "config.file", Data: []byte("from a file\n")}},
		KubeVersion:    "v1.37.2",
		APIVersions:    []string{"policy/v1/PodDisruptionBudget", "monitoring.coreos.com/v1"},
		SkipCRDs:       true,
		SkipTests:      true,
	}
	res := mustRender(t, ch, opts)
	want := []string{
		"Secret prod-app-credentials",
		"ConfigMap prod-sub",
		"ConfigMap prod-app-config",
		"Service prod-app",
		"Deployment prod-app",
		"Job prod-app-migrate",
	}
	if got := kinds(res); !slices.Equal(got, want) {
		t.Errorf("objects (no CRD, no test hook):\n%v\nwant:\n%v", got, want)
	}
	sameObject(t, find(t, res, "Deployment", "prod-app"), `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: prod-app
  namespace: apps
  labels:
    app.kubernetes.io/name: app
    app.kubernetes.io/instance: prod
    app.kubernetes.io/version: "4.5"
  annotations:
    kube-version: v1.37.2
    pdb-api: "true"
    monitoring-api: "true"
spec:
  replicas: 4
  selector:
    matchLabels: {app: prod-app}
  template:
    metadata:
      labels: {app: prod-app}
    spec:
      containers:
        - name: app
          image: ghcr.io/acme/app:1.28
          env:
            - {name: EXTRA, value: "true"}
            - {name: EXTRA_KIND, value: string}
            - {name: LIST, value: x;y}
`)
	sameObject(t, find(t, res, "Service", "prod-app"), `
apiVersion: v1
kind: Service
metadata:
  name: prod-app
spec:
  type: NodePort
  ports:
    - {port: 8080, name: http}
`)
	sameObject(t, find(t, res, "ConfigMap", "prod-app-config"), `
apiVersion: v1
kind: ConfigMap
metadata:
  name: prod-app-config
data:
  greeting: a,b
  file: "from a file\n"
  app.conf: "listen = 8080\n"
  a.txt: "A\n"
  b.txt: "B\n"
`)

	// Without ForceString, "true" is a boolean.
	res = mustRender(t, ch, Options{ReleaseName: "prod", Parameters: []Parameter{{Name: "extra", Value: "true"}}})
	env := find(t, res, "Deployment", "prod-app").Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["env"]
	if got := env.([]any)[1].(map[string]any)["value"]; got != "bool" {
		t.Errorf("--set extra=true: kindOf = %v, want bool", got)
	}
}

func TestRenderValuesAndValuesObject(t *testing.T) {
	ch := loadApp(t, nil)
	greeting := func(opts Options) any {
		opts.ReleaseName = "r"
		return find(t, mustRender(t, ch, opts), "ConfigMap", "r-app-config").Object["data"].(map[string]any)["greeting"]
	}
	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"chart default", Options{}, "hello"},
		{"values", Options{Values: "config: {greeting: from-values}"}, "from-values"},
		{"values after the value files", Options{
			ValueFiles: []File{{Name: "v.yaml", Data: []byte("config: {greeting: from-file}")}},
			Values:     "config: {greeting: from-values}"}, "from-values"},
		{"valuesObject wins over values", Options{
			Values:       "config: {greeting: from-values}",
			ValuesObject: map[string]any{"config": map[string]any{"greeting": "from-object"}}}, "from-object"},
		{"parameters after values", Options{
			ValuesObject: map[string]any{"config": map[string]any{"greeting": "from-object"}},
			Parameters:   []Parameter{{Name: "config.greeting", Value: "from-parameter"}}}, "from-parameter"},
		{"later value files win", Options{ValueFiles: []File{
			{Name: "a.yaml", Data: []byte("config: {greeting: a}")},
			{Name: "b.yaml", Data: []byte("config: {greeting: b}")}}}, "b"},
	} {
		if got := greeting(tc.opts); got != tc.want {
			t.Errorf("%s: greeting = %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestRenderSubchartCondition(t *testing.T) {
	ch := loadApp(t, nil)
	off := mustRender(t, ch, Options{ReleaseName: "r", Parameters: []Parameter{{Name: "sub.enabled", Value: "false"}}})
	if slices.Contains(kinds(off), "ConfigMap r-sub") {
		t.Errorf("sub.enabled=false: %v still has the subchart's ConfigMap", kinds(off))
	}
	// Rendering did not change the chart: the subchart is back.
	on := mustRender(t, ch, Options{ReleaseName: "r"})
	if !slices.Contains(kinds(on), "ConfigMap r-sub") {
		t.Errorf("after a render without the subchart, %v lacks its ConfigMap", kinds(on))
	}
	if n := len(ch.Dependencies()); n != 2 {
		t.Errorf("the chart has %d dependencies after rendering, want 2", n)
	}
}

func TestRenderNamespaceDefault(t *testing.T) {
	res := mustRender(t, loadApp(t, nil), Options{ReleaseName: "r"})
	if ns := find(t, res, "Deployment", "r-app").GetNamespace(); ns != "default" {
		t.Errorf(".Release.Namespace = %q, want default", ns)
	}
}

func TestRenderSchemaValidation(t *testing.T) {
	ch := loadApp(t, nil)
	_, err := Render(t.Context(), ch, Options{ReleaseName: "r", Parameters: []Parameter{{Name: "replicaCount", Value: "0"}}})
	if err == nil || !contains(err.Error(), "values don't meet the specifications of the schema(s)") || !contains(err.Error(), "replicaCount") {
		t.Errorf("replicaCount=0: err = %v, want a schema error naming replicaCount", err)
	}
	if _, err := Render(t.Context(), ch, Options{ReleaseName: "r", SkipSchemaValidation: true,
		Parameters: []Parameter{{Name: "replicaCount", Value: "0"}}}); err != nil {
		t.Errorf("SkipSchemaValidation: %v", err)
	}
}

// TestRenderSchemaReferencesStayLocal checks that a values.schema.json
// cannot make the render read a file or reach an address: Helm's validator
// would load these references.
func TestRenderSchemaReferencesStayLocal(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, `{"type": "object"}`)
	}))
	defer srv.Close()
	for _, ref := range []string{srv.URL + "/schema.json", "file:///etc/hostname", "other.json"} {
		ch := loadApp(t, map[string]string{"values.schema.json": `{"$ref": "` + ref + `"}`})
		_, err := Render(t.Context(), ch, Options{ReleaseName: "r"})
		if err == nil || !contains(err.Error(), "refused") {
			t.Errorf("$ref %s: err = %v, want a refusal", ref, err)
		}
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("the schema server got %d requests", n)
	}
	// References inside the schema, and to the metaschemas, resolve.
	ch := loadApp(t, map[string]string{"values.schema.json": `{
  "$schema": "http://json-schema.org/draft-07/schema#",
  "definitions": {"count": {"type": "integer", "minimum": 1}},
  "properties": {"replicaCount": {"$ref": "#/definitions/count"}}
}`})
	if _, err := Render(t.Context(), ch, Options{ReleaseName: "r"}); err != nil {
		t.Errorf("local $ref: %v", err)
	}
	if _, err := Render(t.Context(), ch, Options{ReleaseName: "r", Parameters: []Parameter{{Name: "replicaCount", Value: "0"}}}); err == nil {
		t.Error("local $ref: replicaCount=0 passed the schema")
	}
}

// TestRenderErrors checks that errors say what failed.
func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name    string
		changes map[string]string
		opts    Options
		want    []string
	}{
		{"value file", nil, Options{ValueFiles: []File{{Name: "values-bad.yaml", Data: []byte("a: [")}}},
			[]string{"value file values-bad.yaml"}},
		{"values", nil, Options{Values: "a: ["}, []string{"spec.source.helm.values"}},
		{"parameter", nil, Options{Parameters: []Parameter{{Name: "a[x]", Value: "1"}}}, []string{"parameter a[x]"}},
		{"template YAML", map[string]string{"templates/bad.yaml": "a: [\n"}, Options{},
			[]string{"app/templates/bad.yaml"}},
		{"document not an object", map[string]string{"templates/bad.yaml": "- 1\n"}, Options{},
			[]string{"app/templates/bad.yaml"}},
		{"CRD not an object", map[string]string{"crds/bad.yaml": "kind: List\n---\n- 1\n"}, Options{},
			[]string{"template app/crds/bad.yaml", "a document is a list, not a Kubernetes object"}},
		{"object without a name", map[string]string{"templates/bad.yaml": "apiVersion: v1\nkind: ConfigMap\n"}, Options{},
			[]string{"template app/templates/bad.yaml", "no metadata.name"}},
		{"template function", map[string]string{"templates/bad.yaml": "{{ fail \"no way\" }}"}, Options{},
			[]string{"app/templates/bad.yaml", "no way"}},
		{"required value", map[string]string{"templates/bad.yaml": "{{ required \"set .Values.x\" .Values.x }}"}, Options{},
			[]string{"app/templates/bad.yaml", "set .Values.x"}},
		{"release name", nil, Options{ReleaseName: "Not_Valid"}, []string{`release name "Not_Valid"`}},
		{"kube version", nil, Options{KubeVersion: "one"}, []string{`kube version "one"`}},
		{"chart kubeVersion", nil, Options{KubeVersion: "1.18.0"}, []string{"chart requires kubeVersion: >= 1.19.0-0"}},
		{"library chart", map[string]string{"Chart.yaml": "apiVersion: v2\nname: app\nversion: 1.0.0\ntype: library\n"}, Options{},
			[]string{"library charts are not installable"}},
		{"missing dependency", map[string]string{"charts/sub/Chart.yaml": "", "charts/sub/values.yaml": "", "charts/sub/templates/configmap.yaml": ""},
			Options{}, []string{"missing from charts/", "sub"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.opts.ReleaseName == "" {
				tc.opts.ReleaseName = "r"
			}
			_, err := Render(t.Context(), loadApp(t, tc.changes), tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, "render chart app") {
				if !contains(err.Error(), w) {
					t.Errorf("err = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestRenderLookupWarning(t *testing.T) {
	tests := []struct {
		name     string
		template string
		want     []string
	}{
		{"no lookup", "", nil},
		{"lookup in a comment and a string", `{{/* lookup "v1" "Secret" "" "" */}}{{ $x := "lookup" }}`, nil},
		{"lookup in a defined template", `{{ define "x" }}{{ lookup "v1" "Secret" "" "" }}{{ end }}`,
			[]string{"the chart calls lookup, which returns an empty result when rendering: app/templates/extra.yaml"}},
		{"lookup through tpl", `{{ $_ := tpl "{{ lookup \"v1\" \"Secret\" \"\" \"\" }}" . }}`,
			[]string{"the chart calls lookup (in a string rendered with tpl), which returns an empty result when rendering"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changes := map[string]string{"templates/lookup.yaml": ""}
			if tc.template != "" {
				changes["templates/extra.yaml"] = tc.template
			}
			res := mustRender(t, loadApp(t, changes), Options{ReleaseName: "r"})
			if !slices.Equal(res.Warnings, tc.want) {
				t.Errorf("warnings = %q, want %q", res.Warnings, tc.want)
			}
		})
	}
}

func TestRenderExpandsLists(t *testing.T) {
	ch := loadApp(t, map[string]string{"templates/list.yaml": `apiVersion: v1
kind: ConfigMapList
items:
  - metadata: {name: one}
  - metadata: {name: two}
`})
	res := mustRender(t, ch, Options{ReleaseName: "r", SkipCRDs: true, SkipTests: true})
	want := []string{
		"Secret r-app-credentials", "ConfigMap r-sub", "ConfigMap r-app-config", "Service r-app", "Deployment r-app",
		"ConfigMap one", "ConfigMap two", // where Helm sorts the ConfigMapList: after the kinds it knows
		"Job r-app-migrate",
	}
	if got := kinds(res); !slices.Equal(got, want) {
		t.Errorf("objects = %v, want %v", got, want)
	}
}

func TestRenderCanceled(t *testing.T) {
	ctx, cancel := context.WithCancelCause(t.Context())
	cause := errors.New("reconcile over")
	cancel(cause)
	if _, err := Render(ctx, loadApp(t, nil), Options{ReleaseName: "r"}); !errors.Is(err, cause) {
		t.Errorf("err = %v, want the context's cause", err)
	}
}

// TestRenderConcurrently renders one chart from many goroutines with
// different options (run it with -race): each result is the one a render
// alone gives.
func TestRenderConcurrently(t *testing.T) {
	umbrella, err := LoadArchive(packageChart(t, "umbrella", umbrellaChart()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	charts := []*chart.Chart{loadApp(t, nil), umbrella}
	optionsOf := func(i int) Options {
		return Options{
			ReleaseName: fmt.Sprintf("r%d", i),
			Namespace:   fmt.Sprintf("ns%d", i%3),
			Parameters: []Parameter{{Name: "replicaCount", Value: fmt.Sprint(i + 1)},
				{Name: "sub.enabled", Value: fmt.Sprint(i%4 < 2)}, {Name: "tags.extras", Value: fmt.Sprint(i%4 < 2)}},
			KubeVersion: fmt.Sprintf("1.%d.0", 30+i%5),
			APIVersions: []string{fmt.Sprintf("example.com/v%d", i)},
			SkipCRDs:    i%3 == 1,
		}
	}
	const n = 16
	want := make([]*Result, n)
	for i := range n {
		want[i] = mustRender(t, charts[i%2], optionsOf(i))
	}
	var wg sync.WaitGroup
	got := make([]*Result, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			got[i], errs[i] = Render(t.Context(), charts[i%2], optionsOf(i))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("render %d: %v", i, errs[i])
			continue
		}
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("render %d differs when concurrent: %v, want %v", i, kinds(got[i]), kinds(want[i]))
		}
	}
}

// TestRenderAliasesAndTags renders a chart using a subchart twice under
// aliases, one behind a tag, with import-values: Helm's dependency
// processing renames and removes dependencies, on a copy.
func TestRenderAliasesAndTags(t *testing.T) {
	ch, err := LoadArchive(packageChart(t, "umbrella", umbrellaChart()), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts Options
		want []string
	}{
		{Options{ReleaseName: "r"}, []string{"ConfigMap r-first", "ConfigMap r-umbrella"}},
		{Options{ReleaseName: "r", Parameters: []Parameter{{Name: "tags.extras", Value: "true"}}},
			[]string{"ConfigMap r-first", "ConfigMap r-second", "ConfigMap r-umbrella"}},
		{Options{ReleaseName: "r"}, []string{"ConfigMap r-first", "ConfigMap r-umbrella"}},
	} {
		res := mustRender(t, ch, tc.opts)
		if got := kinds(res); !slices.Equal(got, tc.want) {
			t.Errorf("%+v: objects = %v, want %v", tc.opts.Parameters, got, tc.want)
		}
		data := find(t, res, "ConfigMap", "r-umbrella").Object["data"].(map[string]any)
		if data["imported"] != `{"a":1,"fromParent":"kept"}` {
			t.Errorf("imported values = %v", data["imported"])
		}
	}
	if names := []string{ch.Metadata.Dependencies[0].Name, ch.Metadata.Dependencies[1].Name}; !slices.Equal(names, []string{"sub", "sub"}) {
		t.Errorf("Chart.yaml's dependencies are now %v: rendering changed the chart", names)
	}
}
