package appstate

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/chartrepo"
	"github.com/ferrycd/ferry/internal/helm/helmtest"
	"github.com/ferrycd/ferry/internal/render"
)

// chartFiles is a chart whose ConfigMap shows what its templates saw.
func chartFiles(name, version string) helmtest.Files {
	return helmtest.Files{
		"Chart.yaml":  fmt.Sprintf("apiVersion: v2\nname: %s\nversion: %s\n", name, version),
		"values.yaml": "message: default\n",
		"templates/cm.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  message: {{ .Values.message | quote }}
  namespace: {{ .Release.Namespace | quote }}
  kube: {{ .Capabilities.KubeVersion.Version | quote }}
  monitoring: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
`,
	}
}

// charts is a Helm repository in memory: archives by chart and version.
type charts struct {
	archives map[string][]byte
	fetches  atomic.Int64
}

func (c *charts) ResolveSince(_ context.Context, _, chart, constraint string, _ time.Time) (string, error) {
	for key := range c.archives {
		if n, v, _ := strings.Cut(key, "@"); n == chart && (constraint == "" || constraint == v) {
			return v, nil
		}
	}
	return "", fmt.Errorf("chart %s: no version matches %q", chart, constraint)
}

func (c *charts) Fetch(_ context.Context, _, chart, version string) (*chartrepo.Archive, error) {
	c.fetches.Add(1)
	data, ok := c.archives[chart+"@"+version]
	if !ok {
		return nil, fmt.Errorf("chart %s %s not found", chart, version)
	}
	return &chartrepo.Archive{Data: data}, nil
}

// multiSnapshots serves a repository per URL.
type multiSnapshots map[string]fs.FS

func (m multiSnapshots) Snapshot(_ context.Context, repoURL, _ string) (fs.FS, error) {
	if f, ok := m[repoURL]; ok {
		return f, nil
	}
	return nil, fmt.Errorf("no repository %s", repoURL)
}

func mapFS(files helmtest.Files, prefix string) fstest.MapFS {
	out := fstest.MapFS{}
	for name, content := range files {
		out[prefix+name] = &fstest.MapFile{Data: []byte(content), Mode: 0o644}
	}
	return out
}

func messageOf(t *testing.T, objs []*unstructured.Unstructured, name string) map[string]string {
	t.Helper()
	for _, o := range objs {
		if o.GetName() == name {
			data, _, _ := unstructured.NestedStringMap(o.Object, "data")
			return data
		}
	}
	t.Fatalf("no object %s among %d", name, len(objs))
	return nil
}

// TestMultiSourceChartWithValuesFromGit renders Argo CD's multi-source
// pattern: a chart from a Helm repository, values from a Git repository
// through $values; the other source renders its own path too, and a
// ref-only source renders nothing.
func TestMultiSourceChartWithValuesFromGit(t *testing.T) {
	repo := &charts{archives: map[string][]byte{"web@1.0.0": helmtest.PackageFiles(t, chartFiles("web", "1.0.0"))}}
	values := mapFS(helmtest.Files{
		"envs/prod/values.yaml": "message: from git\n",
		"extra/cm.yaml":         "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
	}, "")
	snaps := multiSnapshots{"https://git.example/values": values}
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, repo, 0)
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Sources: v1alpha1.ApplicationSources{
				{RepoURL: "https://charts.example", Chart: "web", TargetRevision: "1.0.0",
					Helm: &v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"$values/envs/prod/values.yaml"}}},
				{RepoURL: "https://git.example/values", TargetRevision: "main", Ref: "values"},
				{RepoURL: "https://git.example/values", TargetRevision: "main", Path: "extra"},
			},
			Destination: v1alpha1.ApplicationDestination{Namespace: "prod"},
		},
	}
	caps := func(context.Context) (Capabilities, error) {
		return Capabilities{KubeVersion: "v1.37.2", APIVersions: []string{"v1", "monitoring.coreos.com/v1"}}, nil
	}
	d, err := r.Desired(t.Context(), app, "web", JoinRevisions([]string{"1.0.0", "abc", "abc"}), namespaced, caps)
	if err != nil {
		t.Fatal(err)
	}
	got := messageOf(t, d.Objects, "web-web")
	want := map[string]string{"message": "from git", "namespace": "prod", "kube": "v1.37.2", "monitoring": "true"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("data.%s = %q, want %q (what the templates saw)", k, got[k], v)
		}
	}
	messageOf(t, d.Objects, "extra")
	if len(d.Objects) != 2 {
		t.Errorf("%d objects, want the chart's and the third source's", len(d.Objects))
	}
	if !slices.Equal(d.SourceTypes, []string{render.TypeHelm, "", render.TypeDirectory}) {
		t.Errorf("source types = %q", d.SourceTypes)
	}

	// Another Application of the same chart with other values renders the
	// chart again from the one archive; the same inputs are not rendered
	// twice.
	again, err := r.Desired(t.Context(), app, "web", JoinRevisions([]string{"1.0.0", "abc", "abc"}), namespaced, caps)
	if err != nil || again.Objects[0].GetName() != "web-web" {
		t.Fatalf("second render: %v", err)
	}
	if n := repo.fetches.Load(); n != 1 {
		t.Errorf("%d fetches for one render, want 1", n)
	}
}

// TestHelmValueFilesStayInTheRepository: value files that climb out of the
// repository or name an unknown ref are refused, naming the file; a missing
// one fails unless ignoreMissingValueFiles.
func TestHelmValueFilesStayInTheRepository(t *testing.T) {
	fsys := mapFS(chartFiles("web", "1.0.0"), "charts/web/")
	fsys["envs/prod.yaml"] = &fstest.MapFile{Data: []byte("message: prod\n"), Mode: 0o644}
	snaps := multiSnapshots{"https://git.example/repo": fsys}
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, nil, 0)
	render := func(h *v1alpha1.ApplicationSourceHelm) (*Desired, error) {
		app := &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "argocd"},
			Spec: v1alpha1.ApplicationSpec{
				Source:      &v1alpha1.ApplicationSource{RepoURL: "https://git.example/repo", Path: "charts/web", Helm: h},
				Destination: v1alpha1.ApplicationDestination{Namespace: "prod"},
			},
		}
		return r.Desired(t.Context(), app, "web", "abc", namespaced, nil)
	}
	d, err := render(&v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"../../envs/prod.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := messageOf(t, d.Objects, "web-web")["message"]; got != "prod" {
		t.Errorf("message = %q, want the value file's (inside the repository, outside the chart)", got)
	}
	for _, tc := range []struct {
		valueFile, want string
	}{
		{"../../../etc/passwd", "resolves outside the repository"},
		{"/etc/passwd", "resolves outside the repository"},
		{"$other/values.yaml", `names source ref "other"`},
		{"https://evil.example/values.yaml", "is a URL"},
		{"missing.yaml", "does not exist"},
	} {
		_, err := render(&v1alpha1.ApplicationSourceHelm{ValueFiles: []string{tc.valueFile}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("value file %q: error %v, want one saying %q", tc.valueFile, err, tc.want)
		}
		if _, stalled := IsStalled(err); err != nil && !stalled {
			t.Errorf("value file %q: %v is retried; a spec error is not", tc.valueFile, err)
		}
	}
	if _, err := render(&v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"missing.yaml"}, IgnoreMissingValueFiles: true}); err != nil {
		t.Errorf("ignoreMissingValueFiles: %v", err)
	}
}

func TestTargetRevisions(t *testing.T) {
	app := &v1alpha1.Application{Spec: v1alpha1.ApplicationSpec{Sources: v1alpha1.ApplicationSources{
		{TargetRevision: "1.*"}, {TargetRevision: "main"}, {TargetRevision: ""},
	}}}
	for _, tc := range []struct {
		name string
		op   *v1alpha1.SyncOperation
		want []string
	}{
		{"spec", nil, []string{"1.*", "main", ""}},
		{"by position", &v1alpha1.SyncOperation{Revisions: []string{"1.2.0", "", "v2"}}, []string{"1.2.0", "main", "v2"}},
		{"at source positions", &v1alpha1.SyncOperation{Revisions: []string{"v3"}, SourcePositions: []int64{3}}, []string{"1.*", "main", "v3"}},
		{"position out of range", &v1alpha1.SyncOperation{Revisions: []string{"v3"}, SourcePositions: []int64{9}}, []string{"1.*", "main", ""}},
	} {
		if got := TargetRevisions(app, tc.op); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	key := JoinRevisions([]string{">=4.0.0 <5.0.0", "abc", ""}) // a range holds spaces
	if got := SplitRevisions(key, 3); !slices.Equal(got, []string{">=4.0.0 <5.0.0", "abc", ""}) {
		t.Errorf("SplitRevisions(%q) = %q", key, got)
	}
	if rev, revs := StatusRevisions(app, key); rev != "" || len(revs) != 3 {
		t.Errorf("StatusRevisions = %q, %q", rev, revs)
	}
	single := &v1alpha1.Application{Spec: v1alpha1.ApplicationSpec{Source: &v1alpha1.ApplicationSource{TargetRevision: "main"}}}
	if got := TargetRevisions(single, &v1alpha1.SyncOperation{Revision: "v1"}); !slices.Equal(got, []string{"v1"}) {
		t.Errorf("single source: %q", got)
	}
	if got := Short("0123456789abcdef0123456789abcdef01234567"); got != "0123456" {
		t.Errorf("Short(commit) = %q", got)
	}
	if got := Short("10.20.300-beta.1"); got != "10.20.300-beta.1" {
		t.Errorf("Short(chart version) = %q, want it whole", got)
	}
}

// TestChartDependenciesStayInTheProject: a dependency from a repository the
// project does not permit is refused before anything is fetched.
func TestChartDependenciesStayInTheProject(t *testing.T) {
	umbrella := helmtest.Files{
		"Chart.yaml": "apiVersion: v2\nname: umbrella\nversion: 0.1.0\ndependencies:\n- name: web\n  version: 1.0.0\n  repository: https://charts.example\n",
	}
	snaps := multiSnapshots{"https://git.example/repo": mapFS(umbrella, "umbrella/")}
	repo := &charts{archives: map[string][]byte{"web@1.0.0": helmtest.PackageFiles(t, chartFiles("web", "1.0.0"))}}
	r := NewRenderer(render.NewRenderer(render.Limits{}), snaps, repo, 0)
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Name: "umbrella", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSpec{
			Source:      &v1alpha1.ApplicationSource{RepoURL: "https://git.example/repo", Path: "umbrella"},
			Destination: v1alpha1.ApplicationDestination{Namespace: "prod"},
		},
	}
	onlyGit := WithPermittedRepositories(t.Context(), func(u string) bool { return u == "https://git.example/repo" })
	_, err := r.Desired(onlyGit, app, "umbrella", "abc", namespaced, nil)
	if err == nil || !strings.Contains(err.Error(), "not among the project's sourceRepos") {
		t.Fatalf("error %v, want the dependency refused", err)
	}
	if n := repo.fetches.Load(); n != 0 {
		t.Errorf("%d fetches, want none", n)
	}
	if _, stalled := IsStalled(err); !stalled {
		t.Errorf("%v is retried; a refusal is not", err)
	}
	d, err := NewRenderer(render.NewRenderer(render.Limits{}), snaps, repo, 0).Desired(t.Context(), app, "umbrella", "abc", namespaced, nil)
	if err != nil || len(d.Objects) != 1 {
		t.Fatalf("permitted: %v", err)
	}
}
