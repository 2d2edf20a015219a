package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/helm/helmtest"
)

// diffChart is a chart whose ConfigMap shows what its templates saw of the
// cluster, so a diff rendered with other capabilities than the
// controller's would differ.
func diffChart(message string) helmtest.Files {
	return helmtest.Files{
		"Chart.yaml":  "apiVersion: v2\nname: greeter\nversion: 1.0.0\n",
		"values.yaml": "message: " + message + "\n",
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-greeting
data:
  message: {{ .Values.message | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  crds: {{ .Capabilities.APIVersions.Has "argoproj.io/v1alpha1/Application" | quote }}
`,
	}
}

// TestAppDiffHelm: `ferry app diff` renders charts as the controller does
// (no false difference after a sync, from a Helm repository or from Git),
// and --local previews a change to a chart's values.
func TestAppDiffHelm(t *testing.T) {
	ctx := t.Context()
	charts := helmtest.NewRepo(t)
	charts.PublishFiles(diffChart("from the repository"))
	dir := t.TempDir()
	git(t, dir, "init", "-q", "-b", "main")
	helmtest.WriteDir(t, filepath.Join(dir, "chart"), diffChart("from git"))
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-qm", "chart")

	sources := map[string]*v1alpha1.ApplicationSource{
		"diff-helm-repo": {RepoURL: charts.URL(), Chart: "greeter", TargetRevision: "1.x"},
		"diff-helm-git":  {RepoURL: "file://" + dir, Path: "chart", TargetRevision: "main"},
	}
	for name, src := range sources {
		app := &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name},
			Spec: v1alpha1.ApplicationSpec{Project: "default", Source: src,
				Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: name},
				SyncPolicy: &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{},
					SyncOptions: []string{"CreateNamespace=true"}}},
		}
		if err := env.Client.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
		cleanupApp(t, name)
		if out, err := ferry(t, "app", "wait", name, "--sync", "--timeout", "1m"); err != nil {
			t.Fatalf("ferry app wait %s: %v\n%s", name, err, out)
		}
		if out, err := ferry(t, "app", "diff", name); err != nil {
			t.Errorf("diff of synced %s: exit %d (want 0), %v\n%s", name, ExitCode(err), err, out)
		}
	}

	values := filepath.Join(dir, "chart", "values.yaml")
	if err := os.WriteFile(values, []byte("message: changed locally\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ferry(t, "app", "diff", "diff-helm-git", "--local", dir)
	if ExitCode(err) != 1 || !strings.Contains(out, "-  message: from git") || !strings.Contains(out, "+  message: changed locally") {
		t.Errorf("diff --local of a chart: exit %d (%v), want 1 with the change:\n%s", ExitCode(err), err, out)
	}
}
