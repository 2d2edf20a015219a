package application_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/helm/helmtest"
)

// webappChart is a chart of version version: a ConfigMap whose data shows
// the values, release and chart the templates saw, and a Deployment.
func webappChart(version string) helmtest.Files {
	return helmtest.Files{
		"Chart.yaml":       fmt.Sprintf("apiVersion: v2\nname: webapp\nversion: %s\nappVersion: %q\n", version, version),
		"values.yaml":      "message: default\nreplicas: 1\n",
		"values-prod.yaml": "message: from the chart's values-prod.yaml\n",
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-config
data:
  value: {{ .Values.message | quote }}
  chart: {{ .Chart.Version | quote }}
  namespace: {{ .Release.Namespace | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  apps: {{ .Capabilities.APIVersions.Has "apps/v1/Deployment" | quote }}
  appProjects: {{ .Capabilities.APIVersions.Has "argoproj.io/v1alpha1/AppProject" | quote }}
`,
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: {{ .Values.replicas }}
  selector:
    matchLabels: {app: {{ .Release.Name }}}
  template:
    metadata:
      labels: {app: {{ .Release.Name }}}
    spec:
      containers:
      - name: web
        image: nginx:{{ .Chart.AppVersion }}
`,
	}
}

// helmRepoSecret registers a Helm repository's credentials as Argo CD's
// repository Secret does.
func helmRepoSecret(ctx context.Context, t *testing.T, name, url, user, password string, extra map[string]string) {
	t.Helper()
	data := map[string]string{"type": "helm", "name": name, "url": url, "username": user, "password": password}
	for k, v := range extra {
		data[k] = v
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd",
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: data,
	}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), secret) })
}

// chartApp is an automated Application of chart at version from repoURL.
func chartApp(name, ns, repoURL, chart, version string) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: repoURL, Chart: chart, TargetRevision: version},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: ns},
			SyncPolicy: &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true},
				SyncOptions: []string{"CreateNamespace=true"}},
		},
	}
}

func valuesObject(t *testing.T, v string) *runtime.RawExtension {
	t.Helper()
	return &runtime.RawExtension{Raw: []byte(v)}
}

func cmData(ctx context.Context, t *testing.T, ns, name, key string) string {
	t.Helper()
	cm := live(ctx, t, "v1", "ConfigMap", ns, name)
	if cm == nil {
		return ""
	}
	v, _, _ := unstructured.NestedString(cm.Object, "data", key)
	return v
}

// TestHelmRepositoryChart: a chart from a Helm repository behind basic
// auth (credentials from a repository Secret of type helm), at a semver
// range, with values; publishing a newer version upgrades it.
func TestHelmRepositoryChart(t *testing.T) {
	ctx := t.Context()
	const password = "helm-repo-s3cret-ferry"
	repo := helmtest.NewRepo(t)
	repo.User, repo.Password = "charts", password
	repo.PublishFiles(webappChart("1.0.0"))
	repo.PublishFiles(webappChart("2.0.0")) // outside the range
	helmRepoSecret(ctx, t, "helm-webapp", repo.URL(), "charts", password, nil)

	app := chartApp("helm-webapp", "helm-webapp", repo.URL(), "webapp", "1.*")
	app.Spec.Source.Helm = &v1alpha1.ApplicationSourceHelm{
		ValueFiles:   []string{"values-prod.yaml"},
		ValuesObject: valuesObject(t, `{"replicas": 2}`),
		Parameters:   []v1alpha1.HelmParameter{{Name: "message", Value: "set by a parameter"}},
	}
	create(t, app)
	got := waitApp(t, app, "Synced at 1.0.0 and Healthy", func(a *v1alpha1.Application) bool {
		return syncedAt("1.0.0")(a) && healthy(a)
	})
	if got.Status.SourceType != v1alpha1.ApplicationSourceTypeHelm {
		t.Errorf("sourceType = %q, want Helm", got.Status.SourceType)
	}
	if v := cmData(ctx, t, "helm-webapp", "helm-webapp-config", "value"); v != "set by a parameter" {
		t.Errorf("value = %q, want the parameter's (which wins over valuesObject and value files)", v)
	}
	if v := cmData(ctx, t, "helm-webapp", "helm-webapp-config", "namespace"); v != "helm-webapp" {
		t.Errorf(".Release.Namespace = %q, want the destination namespace", v)
	}
	// The templates see the destination cluster, CRDs included.
	for key, want := range map[string]string{"kube": "v1.37.2", "apps": "true", "appProjects": "true"} {
		if v := cmData(ctx, t, "helm-webapp", "helm-webapp-config", key); v != want {
			t.Errorf(".Capabilities %s = %q, want %q", key, v, want)
		}
	}
	dep := live(ctx, t, "apps/v1", "Deployment", "helm-webapp", "helm-webapp")
	if n, _, _ := unstructured.NestedInt64(dep.Object, "spec", "replicas"); n != 2 {
		t.Errorf("replicas = %d, want 2 from valuesObject", n)
	}

	repo.PublishFiles(webappChart("1.1.0"))
	waitApp(t, app, "upgraded to 1.1.0 once published", syncedAt("1.1.0"))
	if v := cmData(ctx, t, "helm-webapp", "helm-webapp-config", "chart"); v != "1.1.0" {
		t.Errorf("chart = %q, want 1.1.0", v)
	}
	if strings.Contains(env.Logs.String(), password) {
		t.Error("the repository password appears in the controller log")
	}
}

// TestOCIChart: the same chart pushed to an OCI registry behind basic auth
// is installed from oci://, and from Argo CD's form (host/path with
// enableOCI in the repository Secret), one Secret serving both.
func TestOCIChart(t *testing.T) {
	ctx := t.Context()
	reg := helmtest.NewRegistry(t)
	reg.User, reg.Password = "pusher", "oci-s3cret"
	reg.Push(ctx, t, "charts", helmtest.PackageFiles(t, webappChart("1.2.0")))
	reg.Push(ctx, t, "charts", helmtest.PackageFiles(t, webappChart("1.3.0+build.7")))
	// One Secret, in Argo CD's form, serves both spellings of the registry.
	helmRepoSecret(ctx, t, "helm-oci", reg.Host()+"/charts", "pusher", "oci-s3cret", map[string]string{"enableOCI": "true"})

	scheme := chartApp("helm-oci", "helm-oci", "oci://"+reg.Host()+"/charts", "webapp", "1.2.0")
	create(t, scheme)
	enabled := chartApp("helm-oci-enable", "helm-oci-enable", reg.Host()+"/charts", "webapp", ">=1.3.0-0")
	create(t, enabled)
	waitApp(t, scheme, "Synced at 1.2.0 from oci://", syncedAt("1.2.0"))
	waitApp(t, enabled, "Synced at 1.3.0+build.7 with enableOCI", syncedAt("1.3.0+build.7"))
	if v := cmData(ctx, t, "helm-oci-enable", "helm-oci-enable-config", "chart"); v != "1.3.0+build.7" {
		t.Errorf("chart = %q, want 1.3.0+build.7", v)
	}
}

// TestGitChartWithDependency: a chart in Git whose Chart.yaml (and
// Chart.lock) depend on a chart of the Helm repository.
func TestGitChartWithDependency(t *testing.T) {
	ctx := t.Context()
	charts := helmtest.NewRepo(t)
	charts.User, charts.Password = "deps", "deps-s3cret"
	charts.PublishFiles(webappChart("1.0.0"))
	helmRepoSecret(ctx, t, "helm-deps", charts.URL(), "deps", "deps-s3cret", nil)

	repo := newGitRepo(t)
	repo.write(map[string]string{
		"umbrella/Chart.yaml": fmt.Sprintf(`apiVersion: v2
name: umbrella
version: 0.1.0
dependencies:
- name: webapp
  version: "1.x"
  repository: %s
`, charts.URL()),
		"umbrella/Chart.lock": fmt.Sprintf(`dependencies:
- name: webapp
  repository: %s
  version: 1.0.0
digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
generated: "2026-12-01T00:00:00Z"
`, charts.URL()),
		"umbrella/values.yaml":         "webapp:\n  message: from the umbrella\n",
		"umbrella/templates/note.yaml": configMap("umbrella-note", "{{ .Values.webapp.message }}"),
	})
	head := repo.commit("umbrella chart")
	app := newApp("helm-umbrella", "helm-umbrella", repo, "umbrella", &v1alpha1.SyncPolicyAutomated{})
	create(t, app)
	waitApp(t, app, "Synced with its dependency", syncedAt(head))
	if v := cmData(ctx, t, "helm-umbrella", "helm-umbrella-config", "value"); v != "from the umbrella" {
		t.Errorf("the dependency's ConfigMap value = %q, want the umbrella's value", v)
	}
	if v := cmValue(ctx, t, "helm-umbrella", "umbrella-note"); v != "from the umbrella" {
		t.Errorf("umbrella-note = %q", v)
	}
}

// TestMultiSourceValuesFromGit: Argo CD's multi-source pattern, the chart
// from a Helm repository and its values from a Git repository through
// $values/...; a commit to the values repository alone syncs it.
func TestMultiSourceValuesFromGit(t *testing.T) {
	ctx := t.Context()
	charts := helmtest.NewRepo(t)
	charts.PublishFiles(webappChart("1.0.0"))
	values := newGitRepo(t)
	values.write(map[string]string{"envs/prod/values.yaml": "message: prod v1\n"})
	first := values.commit("prod values")

	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "helm-multi", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Project: "default",
			Sources: v1alpha1.ApplicationSources{
				{RepoURL: charts.URL(), Chart: "webapp", TargetRevision: "1.0.0",
					Helm: &v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"$values/envs/prod/values.yaml"}}},
				{RepoURL: values.url(), TargetRevision: "main", Ref: "values"},
			},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "helm-multi"},
			SyncPolicy: &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{},
				SyncOptions: []string{"CreateNamespace=true"}},
		},
	}
	create(t, app)
	syncedAtRevs := func(revs ...string) func(*v1alpha1.Application) bool {
		return func(a *v1alpha1.Application) bool {
			return a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && strings.Join(a.Status.Sync.Revisions, ",") == strings.Join(revs, ",")
		}
	}
	got := waitApp(t, app, "Synced at both sources' revisions", syncedAtRevs("1.0.0", first))
	if v := cmData(ctx, t, "helm-multi", "helm-multi-config", "value"); v != "prod v1" {
		t.Errorf("value = %q, want the values repository's", v)
	}
	if got.Status.Sync.Revision != "" || len(got.Status.Sync.ComparedTo.Sources) != 2 {
		t.Errorf("status.sync = %+v, want revisions and comparedTo.sources only", got.Status.Sync)
	}

	values.write(map[string]string{"envs/prod/values.yaml": "message: prod v2\n"})
	second := values.commit("prod values v2")
	got = waitApp(t, app, "synced after a commit to the values repository alone", syncedAtRevs("1.0.0", second))
	if v := cmData(ctx, t, "helm-multi", "helm-multi-config", "value"); v != "prod v2" {
		t.Errorf("value = %q, want prod v2", v)
	}
	last := got.Status.History[len(got.Status.History)-1]
	if strings.Join(last.Revisions, ",") != "1.0.0,"+second || len(last.Sources) != 2 {
		t.Errorf("last history entry = %+v, want both sources and revisions", last)
	}
	if len(got.Status.SourceTypes) != 2 || got.Status.SourceTypes[0] != v1alpha1.ApplicationSourceTypeHelm {
		t.Errorf("sourceTypes = %v", got.Status.SourceTypes)
	}

	// A sync of one source to another revision (ferry app sync
	// --revisions FIRST --source-positions 2), with automation off.
	patch := client.RawPatch("application/merge-patch+json", []byte(fmt.Sprintf(
		`{"spec":{"syncPolicy":{"automated":null}},"operation":{"sync":{"revisions":[%q],"sourcePositions":[2]},"initiatedBy":{"username":"test"}}}`, first)))
	if err := env.Client.Patch(ctx, app, patch); err != nil {
		t.Fatal(err)
	}
	waitApp(t, app, "synced source 2 back to its first revision", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return a.Operation == nil && st != nil && st.Phase == v1alpha1.OperationSucceeded && st.SyncResult != nil &&
			strings.Join(st.SyncResult.Revisions, ",") == "1.0.0,"+first
	})
	if v := cmData(ctx, t, "helm-multi", "helm-multi-config", "value"); v != "prod v1" {
		t.Errorf("value = %q after syncing source 2 to %s, want prod v1", v, first)
	}
}

// TestHelmAdvisoryCases: what Argo CD's advisories describe is refused with
// a condition naming it, nothing of it applied, and an Application beside
// them keeps syncing.
func TestHelmAdvisoryCases(t *testing.T) {
	ctx := t.Context()
	charts := helmtest.NewRepo(t)
	charts.PublishFiles(webappChart("1.0.0"))
	good := chartApp("helm-good", "helm-good", charts.URL(), "webapp", "1.0.0")
	create(t, good)

	// A chart archive with an entry climbing out of it (CVE-2023-40584).
	charts.PutFile("escape-1.0.0.tgz", tgz(t, map[string]string{
		"escape/Chart.yaml":                      "apiVersion: v2\nname: escape\nversion: 1.0.0\n",
		"escape/../../../tmp/ferry-escaped.yaml": "pwned: true\n",
	}))
	charts.AddIndexEntry("escape", "1.0.0", "escape-1.0.0.tgz")
	// A 10 MB gzip that expands to 10 GiB.
	charts.PutFile("bomb-1.0.0.tgz", gzipBomb(t))
	charts.AddIndexEntry("bomb", "1.0.0", "bomb-1.0.0.tgz")
	// An index that never ends (CVE-2024-29893).
	endless := helmtest.NewRepo(t)
	endless.Handle("/index.yaml", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("apiVersion: v1\nentries:\n"))
		line := []byte("  # " + strings.Repeat("x", 1000) + "\n")
		for r.Context().Err() == nil {
			if _, err := w.Write(line); err != nil {
				return
			}
		}
	})

	// Value files out of the repository (CVE-2022-24348, CVE-2022-31036):
	// a path climbing out, and a value file beside the chart (inside the
	// repository by its path) that is a symlink to /etc/passwd.
	repo := newGitRepo(t)
	chartFiles := map[string]string{}
	for name, content := range webappChart("1.0.0") {
		chartFiles["chart/"+name] = content
	}
	repo.write(chartFiles)
	if err := os.MkdirAll(filepath.Join(repo.dir, "values"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(repo.dir, "values", "passwd.yaml")); err != nil {
		t.Fatal(err)
	}
	repo.commit("chart, and a symlinked value file")

	traversal := newApp("helm-traversal", "helm-traversal", repo, "chart", &v1alpha1.SyncPolicyAutomated{})
	traversal.Spec.Source.Helm = &v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"../../../etc/passwd"}}
	symlink := newApp("helm-symlink", "helm-symlink", repo, "chart", &v1alpha1.SyncPolicyAutomated{})
	symlink.Spec.Source.Helm = &v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"../values/passwd.yaml"}}
	cases := []struct {
		app  *v1alpha1.Application
		want string
	}{
		{traversal, `value file "../../../etc/passwd" resolves outside the repository`},
		{symlink, "symlink values/passwd.yaml points outside the repository"},
		{chartApp("helm-escape", "helm-escape", charts.URL(), "escape", "1.0.0"), `has a ".." element`},
		{chartApp("helm-bomb", "helm-bomb", charts.URL(), "bomb", "1.0.0"), "chart limit exceeded"},
		{chartApp("helm-endless", "helm-endless", endless.URL(), "webapp", "1.0.0"), "exceeds the 32 MiB cap"},
	}
	for _, c := range cases {
		create(t, c.app)
	}
	for _, c := range cases {
		waitApp(t, c.app, "refused: "+c.want, func(a *v1alpha1.Application) bool {
			return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, c.want) && a.Status.OperationState == nil
		})
		if cm := live(ctx, t, "v1", "ConfigMap", c.app.Spec.Destination.Namespace, c.app.Name+"-config"); cm != nil {
			t.Errorf("%s: a ConfigMap was applied", c.app.Name)
		}
	}
	if _, err := os.Stat("/tmp/ferry-escaped.yaml"); err == nil {
		t.Error("an archive entry was written outside the chart")
	}
	waitApp(t, good, "still Synced beside them", func(a *v1alpha1.Application) bool {
		return syncedAt("1.0.0")(a) && !hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "")
	})
}

// tgz writes a gzipped tar of files as given, names unchecked.
func tgz(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(content)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gzipBomb is a chart archive of about 10 MB whose one template is 10 GiB
// of zeros: a tar header, then gzip members of zeros concatenated (a gzip
// stream may hold many members), so building it costs one member's work.
func gzipBomb(t *testing.T) []byte {
	t.Helper()
	const member = 64 << 20 // bytes of zeros per gzip member
	const members = 160     // 10 GiB in all
	var head bytes.Buffer
	tw := tar.NewWriter(&head)
	if err := tw.WriteHeader(&tar.Header{Name: "bomb/templates/zeros.yaml", Mode: 0o644, Size: member * members, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	gz := gzip.NewWriter(&out)
	_, _ = gz.Write(head.Bytes())
	_ = gz.Close()
	var zeros bytes.Buffer
	gz = gzip.NewWriter(&zeros)
	chunk := make([]byte, 1<<20)
	for range member / len(chunk) {
		_, _ = gz.Write(chunk)
	}
	_ = gz.Close()
	for range members {
		out.Write(zeros.Bytes())
	}
	return out.Bytes()
}

// TestKustomizeHelmChartsFollowArgoCDSettings: a kustomization's helmCharts
// are refused until argocd-cm's kustomize.buildOptions holds --enable-helm,
// then inflated in process and transformed by the kustomization.
func TestKustomizeHelmChartsFollowArgoCDSettings(t *testing.T) {
	ctx := t.Context()
	repo := newGitRepo(t)
	files := map[string]string{
		"platform/kustomization.yaml": `helmCharts:
- name: webapp
  releaseName: edge
  valuesInline:
    message: inflated by kustomize
commonLabels:
  team: platform
`,
	}
	for name, content := range webappChart("1.0.0") {
		files["platform/charts/webapp/"+name] = content
	}
	repo.write(files)
	head := repo.commit("kustomization with a chart")
	app := newApp("helm-kustomize", "helm-kustomize", repo, "platform", &v1alpha1.SyncPolicyAutomated{})
	create(t, app)
	waitApp(t, app, "refused while Helm is off", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionComparisonError, "kustomize.buildOptions --enable-helm")
	})

	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-cm", Namespace: "argocd"},
		Data: map[string]string{"kustomize.buildOptions": "--load-restrictor LoadRestrictionsNone --enable-helm"}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cm) })
	waitApp(t, app, "Synced once argocd-cm enables Helm", syncedAt(head))
	got := live(ctx, t, "v1", "ConfigMap", "helm-kustomize", "edge-config")
	if got == nil || got.GetLabels()["team"] != "platform" {
		t.Fatalf("the chart's ConfigMap, labelled by the kustomization: %v", got)
	}
	if v, _, _ := unstructured.NestedString(got.Object, "data", "value"); v != "inflated by kustomize" {
		t.Errorf("value = %q, want valuesInline's", v)
	}
}

// TestHardRefreshRendersAgain: a hard refresh reuses the last comparison
// only when its render is the very one compared (no dry-run of unchanged
// objects); a chart republished under the same version (which a repository
// should refuse, and some allow) renders differently, and the hard refresh
// finds it OutOfSync (the automated sync, without selfHeal, does not sync a
// revision it synced already: Argo CD's rule).
func TestHardRefreshRendersAgain(t *testing.T) {
	ctx := t.Context()
	repo := helmtest.NewRepo(t)
	repo.PublishFiles(webappChart("1.0.0"))
	app := chartApp("hard-refresh", "hard-refresh", repo.URL(), "webapp", "1.0.0")
	create(t, app)
	waitApp(t, app, "Synced at 1.0.0", syncedAt("1.0.0"))
	if v := cmData(ctx, t, "hard-refresh", "hard-refresh-config", "value"); v != "default" {
		t.Fatalf("value = %q, want the chart's default", v)
	}

	// Nothing changed: still Synced, no sync.
	refresh(ctx, t, app, "hard")
	got := waitApp(t, app, "compared after a hard refresh", func(a *v1alpha1.Application) bool {
		return a.Annotations["argocd.argoproj.io/refresh"] == ""
	})
	if got.Status.Sync.Status != v1alpha1.SyncStatusCodeSynced || len(got.Status.History) != 1 {
		t.Errorf("after a hard refresh with nothing changed: %s, %d history entries", describeApp(got), len(got.Status.History))
	}

	republished := webappChart("1.0.0")
	republished["values.yaml"] = "message: republished\nreplicas: 1\n"
	repo.PublishFiles(republished)
	// The index the controller holds may be older than the archive (its
	// digest then refuses the new one until the index is read again, once
	// per poll interval): ask again until the new render is applied.
	eventually(t, 60*time.Second, "OutOfSync after a hard refresh of the republished chart", func(ctx context.Context) (bool, string) {
		a := &v1alpha1.Application{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(app), a); err != nil {
			return false, err.Error()
		}
		if a.Annotations["argocd.argoproj.io/refresh"] == "" && a.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced {
			refresh(ctx, t, app, "hard")
		}
		for _, r := range a.Status.Resources {
			if r.Kind == "ConfigMap" && r.Status == v1alpha1.SyncStatusCodeOutOfSync {
				return a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync, describeApp(a)
			}
		}
		return false, describeApp(a)
	})
}
