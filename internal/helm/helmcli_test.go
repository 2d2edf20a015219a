package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	chart "helm.sh/helm/v4/pkg/chart/v2"
	"sigs.k8s.io/yaml"
)

// TestMatchesHelmTemplate renders the test charts with Render and with the
// helm CLI (`helm template`, with the flags Argo CD passes for the same
// Options) and compares the objects one by one, in order.
func TestMatchesHelmTemplate(t *testing.T) {
	bin := os.Getenv("FERRY_HELM_BIN")
	if bin == "" {
		t.Skip("FERRY_HELM_BIN is not set: `make test` sets it to the helm CLI built from tools/helm")
	}
	dir := t.TempDir()
	files := appChart()
	writeChart(t, filepath.Join(dir, "app"), files)
	archive := filepath.Join(dir, "app-1.2.3.tgz")
	if err := os.WriteFile(archive, packageChart(t, "app", files), 0o644); err != nil {
		t.Fatal(err)
	}
	fromDir, err := LoadDir(os.DirFS(dir), "app", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	fromArchive := loadApp(t, nil)

	// KubeVersion is always set: without it Helm's default depends on the
	// build (the client-go version; v1.20 in test binaries).
	tests := []struct {
		name string
		opts Options
	}{
		{"defaults", Options{ReleaseName: "prod", Namespace: "apps", KubeVersion: "1.37.2"}},
		{"no namespace", Options{ReleaseName: "prod", KubeVersion: "v1.36.0"}},
		{"every option", Options{
			ReleaseName: "prod",
			Namespace:   "apps",
			ValueFiles: []File{
				{Name: "values-prod.yaml", Data: []byte("replicaCount: 3\nservice:\n  type: NodePort\n")},
				{Name: "values-image.yaml", Data: []byte("image:\n  repository: ghcr.io/acme/app\n  tag: \"1.28\"\n")},
			},
			Values: "config:\n  greeting: hi\nglobal:\n  team: web\n",
			Parameters: []Parameter{
				{Name: "service.port", Value: "8080"},
				{Name: "extra", Value: "true", ForceString: true},
				{Name: "config.greeting", Value: "a,b"},
				{Name: "list", Value: "{x,y}"},
				{Name: "sub.message", Value: "from\\,parameters"},
			},
			FileParameters: []File{{Name: "config.file", Data: []byte("from a file\nline 2\n")}},
			KubeVersion:    "v1.37.2",
			APIVersions:    []string{"policy/v1/PodDisruptionBudget", "monitoring.coreos.com/v1"},
		}},
		{"skip CRDs and tests", Options{ReleaseName: "prod", Namespace: "apps", KubeVersion: "1.37.2", SkipCRDs: true, SkipTests: true}},
		{"valuesObject", Options{ReleaseName: "prod", KubeVersion: "1.37.2", Values: "config: {greeting: no}",
			ValuesObject: map[string]any{"config": map[string]any{"greeting": "object"}, "replicaCount": 5, "extra": 1.5}}},
		{"subchart disabled", Options{ReleaseName: "prod", KubeVersion: "1.37.2", Parameters: []Parameter{{Name: "sub.enabled", Value: "false"}}}},
		{"schema validation skipped", Options{ReleaseName: "prod", KubeVersion: "1.37.2", SkipSchemaValidation: true,
			Parameters: []Parameter{{Name: "replicaCount", Value: "0"}}}},
	}
	writeChart(t, filepath.Join(dir, "umbrella"), umbrellaChart())
	umbrella, err := LoadDir(os.DirFS(dir), "umbrella", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for name, opts := range map[string]Options{
		"aliases and import-values": {ReleaseName: "r", KubeVersion: "1.37.2"},
		"a tag enables an alias":    {ReleaseName: "r", KubeVersion: "1.37.2", Parameters: []Parameter{{Name: "tags.extras", Value: "true"}}},
	} {
		t.Run(name, func(t *testing.T) {
			compareWithHelm(t, bin, filepath.Join(dir, "umbrella"), umbrella, opts)
		})
	}
	for _, tc := range tests {
		for _, form := range []struct {
			name, path string
			chart      *chart.Chart
		}{{"directory", filepath.Join(dir, "app"), fromDir}, {"archive", archive, fromArchive}} {
			t.Run(tc.name+"/"+form.name, func(t *testing.T) {
				compareWithHelm(t, bin, form.path, form.chart, tc.opts)
			})
		}
	}
}

// compareWithHelm compares Render's objects with those `helm template`
// prints, one by one.
func compareWithHelm(t *testing.T, bin, chartPath string, ch *chart.Chart, opts Options) {
	t.Helper()
	out := helmTemplate(t, bin, chartPath, opts)
	want, err := decode(out)
	if err != nil {
		t.Fatalf("decode helm's output: %v\n%s", err, out)
	}
	got := mustRender(t, ch, opts)
	if len(got.Objects) != len(want) {
		t.Errorf("%d objects, helm template printed %d:\n%v\n%s", len(got.Objects), len(want), kinds(got), out)
	}
	for i := range min(len(got.Objects), len(want)) {
		if !reflect.DeepEqual(got.Objects[i].Object, want[i].Object) {
			g, _ := yaml.Marshal(got.Objects[i].Object)
			w, _ := yaml.Marshal(want[i].Object)
			t.Errorf("object %d:\n%s\nhelm template printed:\n%s", i, g, w)
		}
	}
}

// helmTemplate runs `helm template` as Argo CD's repo server does for
// opts, with no kubeconfig and no Helm configuration, and returns what it
// printed.
func helmTemplate(t *testing.T, bin, chartPath string, opts Options) string {
	t.Helper()
	tmp := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	args := []string{"template", opts.ReleaseName, chartPath}
	if opts.Namespace != "" {
		args = append(args, "--namespace", opts.Namespace)
	}
	if opts.KubeVersion != "" {
		args = append(args, "--kube-version", opts.KubeVersion)
	}
	for _, p := range opts.Parameters {
		flag := "--set"
		if p.ForceString {
			flag = "--set-string"
		}
		args = append(args, flag, p.Name+"="+escapeCommas(p.Value))
	}
	for i, f := range opts.FileParameters {
		args = append(args, "--set-file", f.Name+"="+write(fmt.Sprintf("file-%d", i), f.Data))
	}
	for i, f := range opts.ValueFiles {
		args = append(args, "--values", write(fmt.Sprintf("values-%d.yaml", i), f.Data))
	}
	switch {
	case opts.ValuesObject != nil:
		j, err := json.Marshal(opts.ValuesObject)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "--values", write("extra-values.yaml", y))
	case opts.Values != "":
		args = append(args, "--values", write("extra-values.yaml", []byte(opts.Values)))
	}
	for _, v := range opts.APIVersions {
		args = append(args, "--api-versions", v)
	}
	if !opts.SkipCRDs {
		args = append(args, "--include-crds")
	}
	if opts.SkipSchemaValidation {
		args = append(args, "--skip-schema-validation")
	}
	if opts.SkipTests {
		args = append(args, "--skip-tests")
	}
	cmd := exec.CommandContext(t.Context(), bin, args...)
	cmd.Env = []string{
		"HOME=" + tmp,
		"KUBECONFIG=" + filepath.Join(tmp, "no-kubeconfig"),
		"HELM_CACHE_HOME=" + filepath.Join(tmp, "cache"),
		"HELM_CONFIG_HOME=" + filepath.Join(tmp, "config"),
		"HELM_DATA_HOME=" + filepath.Join(tmp, "data"),
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.String()
}
