package validate

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateOutput = flag.Bool("update-output", false, "rewrite the golden files in testdata/output")

// goldenFile compares got with the file at path, or rewrites the file when
// update is set.
func goldenFile(t *testing.T, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s with -update-output or -update-fixture to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// goldenOutput compares got with testdata/output/name (-update-output
// rewrites it).
func goldenOutput(t *testing.T, name string, got []byte) {
	t.Helper()
	goldenFile(t, filepath.Join("testdata", "output", name), got, *updateOutput)
}

// sampleOutputReport has three units, findings of every severity, one without a
// line, one without an object, one without a file, fixes, a unit that is not
// in Units and a message that needs escaping in every format.
func sampleOutputReport() *Report {
	const deploy = "apps/v1 Deployment staging/myapp"
	const fixRoot = "set securityContext.runAsNonRoot: true"
	r := &Report{
		Root: "/src/gitops-repo",
		Units: []UnitSummary{
			{Name: "myapp-staging", Kind: "application", Path: "apps/staging/myapp", Objects: 12},
			{Name: "myapp-production", Kind: "application", Path: "apps/production/myapp", Objects: 5},
			{Name: "infra/monitoring", Kind: "kustomization", Path: "infra/monitoring", Objects: 25},
		},
		Findings: []Finding{
			{Rule: "FERRY-SEC-001", Severity: SeverityError, Message: `container "app" runs as root`, Fix: fixRoot,
				File: "apps/staging/myapp/deployment.yaml", Line: 12, Object: deploy, Unit: "myapp-staging"},
			{Rule: "policy/main.deny", Severity: SeverityWarning, Message: `image "nginx:latest" has a mutable tag & no digest; want <registry>/<name>@sha256:<digest>`,
				File: "apps/staging/myapp/deployment.yaml", Line: 30, Object: deploy, Unit: "myapp-staging"},
			{Rule: "FERRY-SEC-007", Severity: SeverityInfo, Message: `container "app" sets no memory limit`, Fix: "set resources.limits.memory",
				File: "apps/staging/myapp/deployment.yaml", Line: 31, Object: deploy, Unit: "myapp-staging"},
			{Rule: "render", Severity: SeverityError, Message: "kustomize build: accumulating resources: missing.yaml: no such file or directory",
				File: "apps/production/myapp/kustomization.yaml", Unit: "myapp-production"},
			{Rule: "dry-run", Severity: SeverityWarning, Message: `server dry run skipped: no context "production" in kubeconfig`,
				Unit: "myapp-production"},
			{Rule: "schema", Severity: SeverityError, Message: `spec.replicas: expected integer, got string "two"`,
				File: "infra/monitoring/prometheus.yaml", Line: 3, Object: "monitoring.coreos.com/v1 Prometheus monitoring/k8s", Unit: "infra/monitoring"},
			{Rule: "FERRY-SEC-001", Severity: SeverityError, Message: `container "node-exporter" runs as root`, Fix: fixRoot,
				File: "infra/monitoring/node-exporter.yaml", Line: 104, Object: "apps/v1 DaemonSet monitoring/node-exporter", Unit: "infra/monitoring"},
			{Rule: "FERRY-SEC-003", Severity: SeverityWarning, Message: "pod uses the host network",
				File: "legacy/job.yaml", Line: 1, Object: "batch/v1 Job default/cleanup", Unit: "legacy"},
		},
	}
	r.Sort()
	return r
}

func writeOutput(t *testing.T, r *Report, opts WriteOptions) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, opts); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestOutputMatchesGoldenFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		opts WriteOptions
	}{
		{"report.txt", WriteOptions{Format: "text"}},
		{"report-color.txt", WriteOptions{Format: "text", Color: true}},
		{"report.json", WriteOptions{Format: "json"}},
		{"report.sarif", WriteOptions{Format: "sarif", Version: "v1.2.3"}},
		{"report.xml", WriteOptions{Format: "junit"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			goldenOutput(t, tc.file, writeOutput(t, sampleOutputReport(), tc.opts))
		})
	}
}

func TestOutputEmptyFormatIsText(t *testing.T) {
	got := writeOutput(t, sampleOutputReport(), WriteOptions{})
	want := writeOutput(t, sampleOutputReport(), WriteOptions{Format: "text"})
	if !bytes.Equal(got, want) {
		t.Errorf("empty format wrote\n%s\nwant the text format\n%s", got, want)
	}
}

func TestOutputTextWithoutColorHasNoEscapes(t *testing.T) {
	if got := writeOutput(t, sampleOutputReport(), WriteOptions{Format: "text"}); bytes.Contains(got, []byte("\x1b")) {
		t.Errorf("text output without color contains escape sequences:\n%q", got)
	}
}

func TestOutputTextSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    *Report
		want string
	}{
		{"clean", &Report{Units: []UnitSummary{{Name: "a", Objects: 1}}}, "1 unit, 1 object: no findings\n"},
		{"empty", &Report{}, "0 units, 0 objects: no findings\n"},
		{"singular", &Report{
			Units:    []UnitSummary{{Name: "a", Objects: 2}, {Name: "b", Objects: 3}},
			Findings: []Finding{{Rule: "r", Severity: SeverityWarning, Message: "m", File: "f", Unit: "a"}},
		}, "2 units, 5 objects: 1 warning\n"},
		{"sample", sampleOutputReport(), "3 units, 42 objects: 4 errors, 3 warnings, 1 info\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(writeOutput(t, tc.r, WriteOptions{Format: "text"}))
			if !strings.HasSuffix(got, tc.want) {
				t.Errorf("text output ends with\n%q\nwant\n%q", outputLastLine(got), tc.want)
			}
		})
	}
}

func outputLastLine(s string) string {
	s = strings.TrimSuffix(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:] + "\n"
}

func TestOutputJSONParsesWithSummary(t *testing.T) {
	var got struct {
		Report
		Summary map[string]int `json:"summary"`
	}
	if err := json.Unmarshal(writeOutput(t, sampleOutputReport(), WriteOptions{Format: "json"}), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"errors": 4, "warnings": 3, "info": 1}
	for k, n := range want {
		if got.Summary[k] != n {
			t.Errorf("summary.%s = %d, want %d (summary %v)", k, got.Summary[k], n, got.Summary)
		}
	}
	if len(got.Findings) != len(sampleOutputReport().Findings) || len(got.Units) != 3 {
		t.Errorf("got %d findings and %d units, want %d and 3", len(got.Findings), len(got.Units), len(sampleOutputReport().Findings))
	}
}

func TestOutputJSONCleanHasArrays(t *testing.T) {
	got := string(writeOutput(t, &Report{Root: "."}, WriteOptions{Format: "json"}))
	for _, want := range []string{`"units": []`, `"findings": []`, `"errors": 0`} {
		if !strings.Contains(got, want) {
			t.Errorf("JSON of a clean report lacks %s:\n%s", want, got)
		}
	}
}

func TestOutputSARIFParses(t *testing.T) {
	var got sarifLog
	if err := json.Unmarshal(writeOutput(t, sampleOutputReport(), WriteOptions{Format: "sarif"}), &got); err != nil {
		t.Fatal(err)
	}
	if got.Version != "2.1.0" || len(got.Runs) != 1 {
		t.Fatalf("version %q with %d runs, want 2.1.0 with 1", got.Version, len(got.Runs))
	}
	run := got.Runs[0]
	if n := len(sampleOutputReport().Findings); len(run.Results) != n {
		t.Errorf("%d results, want %d", len(run.Results), n)
	}
	if len(run.Tool.Driver.Rules) != 7 {
		t.Errorf("%d rules, want the 7 distinct ones: %+v", len(run.Tool.Driver.Rules), run.Tool.Driver.Rules)
	}
	for _, res := range run.Results {
		// GitHub code scanning rejects the whole file when a result has no location.
		if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation.ArtifactLocation.URI == "" {
			t.Errorf("result %s %q has no location: %+v", res.RuleID, res.Message.Text, res.Locations)
		}
	}
}

func TestOutputSARIFLevels(t *testing.T) {
	for s, want := range map[Severity]string{SeverityError: "error", SeverityWarning: "warning", SeverityInfo: "note"} {
		if got := sarifLevel(s); got != want {
			t.Errorf("sarifLevel(%s) = %q, want %q", s, got, want)
		}
	}
}

func TestOutputSARIFURI(t *testing.T) {
	for path, want := range map[string]string{
		"apps/my app/deploy.yaml": "apps/my%20app/deploy.yaml",
		"a:b/c.yaml":              "./a:b/c.yaml",
		"x#1.yaml":                "x%231.yaml",
	} {
		if got := relativeURI(path); got != want {
			t.Errorf("relativeURI(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestOutputJUnitParses(t *testing.T) {
	var got junitTestSuites
	if err := xml.Unmarshal(writeOutput(t, sampleOutputReport(), WriteOptions{Format: "junit"}), &got); err != nil {
		t.Fatal(err)
	}
	type counts struct{ tests, failures, cases int }
	want := map[string]counts{
		"myapp-staging":    {12, 1, 2},
		"myapp-production": {5, 1, 2},
		"infra/monitoring": {25, 2, 2},
		otherSuite:         {1, 0, 1},
	}
	if len(got.Suites) != len(want) {
		t.Fatalf("%d suites, want %d", len(got.Suites), len(want))
	}
	for _, s := range got.Suites {
		if c := (counts{s.Tests, s.Failures, len(s.TestCases)}); c != want[s.Name] {
			t.Errorf("suite %q: %+v, want %+v", s.Name, c, want[s.Name])
		}
	}
	if got.Failures != 4 {
		t.Errorf("%d failures in all, want 4", got.Failures)
	}
	msg := got.Suites[0].TestCases[1].SystemOut
	if !strings.Contains(msg, `& no digest; want <registry>`) {
		t.Errorf("escaped message did not round-trip: %q", msg)
	}
}

func TestOutputUnknownFormat(t *testing.T) {
	err := Write(&bytes.Buffer{}, sampleOutputReport(), WriteOptions{Format: "yaml"})
	if err == nil {
		t.Fatal("format yaml: no error")
	}
	for _, f := range append([]string{"yaml"}, Formats...) {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
}
