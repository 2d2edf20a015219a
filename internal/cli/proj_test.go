package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// This file holds what the project command tests share and the tests of
// create, list, get and delete; proj_edit_test.go and proj_syncwindows_test.go
// test the editing verbs.

// ferryProj runs `ferry proj ARGS` as the local cluster's non-admin user.
func ferryProj(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append([]string{"proj"}, args...)
	return ferry(t, append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext)...)
}

// mustProj runs `ferry proj ARGS` and fails the test on an error.
func mustProj(t *testing.T, args ...string) string {
	t.Helper()
	out, err := ferryProj(t, args...)
	if err != nil {
		t.Fatalf("ferry proj %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// projErr runs `ferry proj ARGS`, which must fail with an error containing
// every one of want, and must leave project (when not "") as it was.
func projErr(t *testing.T, project string, args []string, want ...string) {
	t.Helper()
	var before map[string]any
	if project != "" {
		before = rawProjectOrNil(t, project)
	}
	out, err := ferryProj(t, args...)
	if err == nil {
		t.Errorf("ferry proj %s succeeded, want an error containing %q:\n%s", strings.Join(args, " "), want, out)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("ferry proj %s: error %q lacks %q", strings.Join(args, " "), err, w)
		}
	}
	if before != nil {
		if after := rawProjectOrNil(t, project); after["metadata"].(map[string]any)["resourceVersion"] != before["metadata"].(map[string]any)["resourceVersion"] {
			t.Errorf("ferry proj %s failed but changed the project:\n%v", strings.Join(args, " "), after["spec"])
		}
	}
}

// cleanupProject deletes the project when the test ends.
func cleanupProject(t *testing.T, name string) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		p := &v1alpha1.AppProject{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name}}
		if err := env.Client.Delete(ctx, p); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("clean up project %s: %v", name, err)
		}
	})
}

// createRawProject creates a project from a manifest as kubectl would,
// fields Ferry does not model included, deleted when the test ends.
func createRawProject(t *testing.T, manifest string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := json.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	u.SetAPIVersion("argoproj.io/v1alpha1")
	u.SetKind("AppProject")
	u.SetNamespace("argocd")
	if err := env.Client.Create(t.Context(), u); err != nil {
		t.Fatal(err)
	}
	cleanupProject(t, u.GetName())
}

// rawProject reads a project as stored.
func rawProject(t *testing.T, name string) map[string]any {
	t.Helper()
	obj := rawProjectOrNil(t, name)
	if obj == nil {
		t.Fatalf("project %s not found", name)
	}
	return obj
}

func rawProjectOrNil(t *testing.T, name string) map[string]any {
	t.Helper()
	u := newProjectObject()
	if err := env.Client.Get(t.Context(), client.ObjectKey{Namespace: "argocd", Name: name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatal(err)
	}
	return u.Object
}

// specJSON is a project's spec field as stored, in JSON ("<absent>" when
// the field is not there).
func specJSON(t *testing.T, name, field string) string {
	t.Helper()
	v, found, err := unstructured.NestedFieldNoCopy(rawProject(t, name), "spec", field)
	if err != nil {
		t.Fatal(err)
	}
	if !found {
		return "<absent>"
	}
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkSpec compares spec fields as stored with their expected JSON.
func checkSpec(t *testing.T, name string, want map[string]string) {
	t.Helper()
	for field, w := range want {
		if got := specJSON(t, name, field); got != w {
			t.Errorf("project %s: spec.%s = %s, want %s", name, field, got, w)
		}
	}
}

// TestProjCreateWithFlags creates a project from every create flag, checks
// what is stored, then creates it again: unchanged with the same flags,
// refused naming the differing field without --upsert, replaced with it.
func TestProjCreateWithFlags(t *testing.T) {
	cleanupProject(t, "proj-flags")
	args := []string{"create", "proj-flags", "--description", "Team A",
		"-d", "https://kubernetes.default.svc,team-a", "--dest-name", "prod-us-east,team-a-*",
		"-s", "https://github.com/myorg/team-a.git", "-s", "!https://github.com/myorg/secrets.git",
		"--source-namespaces", "team-a-apps,team-a-ci",
		"--allow-cluster-resource", "/Namespace", "--allow-cluster-resource", "rbac.authorization.k8s.io/ClusterRole/team-a-*",
		"--deny-cluster-resource", "apiextensions.k8s.io/CustomResourceDefinition",
		"--allow-namespaced-resource", "apps/Deployment", "--allow-namespaced-resource", "ConfigMap",
		"--deny-namespaced-resource", "/ResourceQuota",
		"--dest-service-accounts", "https://kubernetes.default.svc,team-a,deployer",
		"--orphaned-resources-warn",
	}
	if out := mustProj(t, args...); out != "project 'proj-flags' created\n" {
		t.Errorf("create output = %q", out)
	}
	checkSpec(t, "proj-flags", map[string]string{
		"description":                `"Team A"`,
		"destinations":               `[{"namespace":"team-a","server":"https://kubernetes.default.svc"},{"name":"prod-us-east","namespace":"team-a-*"}]`,
		"sourceRepos":                `["https://github.com/myorg/team-a.git","!https://github.com/myorg/secrets.git"]`,
		"sourceNamespaces":           `["team-a-apps","team-a-ci"]`,
		"clusterResourceWhitelist":   `[{"group":"","kind":"Namespace"},{"group":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"team-a-*"}]`,
		"clusterResourceBlacklist":   `[{"group":"apiextensions.k8s.io","kind":"CustomResourceDefinition"}]`,
		"namespaceResourceWhitelist": `[{"group":"apps","kind":"Deployment"},{"group":"","kind":"ConfigMap"}]`,
		"namespaceResourceBlacklist": `[{"group":"","kind":"ResourceQuota"}]`,
		"destinationServiceAccounts": `[{"defaultServiceAccount":"deployer","namespace":"team-a","server":"https://kubernetes.default.svc"}]`,
		"orphanedResources":          `{"warn":true}`,
		"syncWindows":                "<absent>",
	})

	if out := mustProj(t, args...); out != "project 'proj-flags' unchanged\n" {
		t.Errorf("second create output = %q", out)
	}
	changed := append(args[:len(args):len(args)], "--description", "Team A, renamed")
	projErr(t, "proj-flags", changed, "project proj-flags already exists", "spec.description", "--upsert")
	if out := mustProj(t, append(changed, "--upsert")...); out != "project 'proj-flags' updated\n" {
		t.Errorf("create --upsert output = %q", out)
	}
	checkSpec(t, "proj-flags", map[string]string{"description": `"Team A, renamed"`, "sourceNamespaces": `["team-a-apps","team-a-ci"]`})

	for _, tc := range []struct {
		flag, value, want string
	}{
		{"-d", "https://kubernetes.default.svc", `--dest "https://kubernetes.default.svc": want SERVER,NAMESPACE`},
		{"--dest-name", "prod,ns,extra", `--dest-name "prod,ns,extra": want NAME,NAMESPACE`},
		{"-s", "!*", `--src "!*" is invalid`},
		{"--allow-namespaced-resource", "apps/Deployment/web", `--allow-namespaced-resource "apps/Deployment/web": want KIND or GROUP/KIND`},
		{"--deny-cluster-resource", "a/b/c/d", `--deny-cluster-resource "a/b/c/d": want KIND, GROUP/KIND or GROUP/KIND/NAME`},
		{"--dest-service-accounts", "https://x,ns", `--dest-service-accounts "https://x,ns": want SERVER,NAMESPACE,SERVICEACCOUNT`},
	} {
		projErr(t, "", []string{"create", "proj-flags-bad", tc.flag, tc.value}, "project proj-flags-bad", tc.want)
	}
	if rawProjectOrNil(t, "proj-flags-bad") != nil {
		t.Error("a create with an invalid flag created the project")
	}
}

// projManifest is a project as someone writes it for kubectl: an empty
// namespaced allow list (no namespaced kind allowed) and roles, which
// Ferry does not model.
const projManifest = `apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: proj-file
  labels:
    team: a
spec:
  description: From a file
  sourceRepos: ["https://github.com/myorg/team-a.git"]
  destinations:
    - server: https://kubernetes.default.svc
      namespace: team-a
  namespaceResourceWhitelist: []
  roles:
    - name: ci
      policies: ["p, proj:proj-file:ci, applications, sync, proj-file/*, allow"]
  syncWindows:
    - kind: deny
      schedule: "0 22 * * *"
      duration: 8h
      applications: ["*"]
`

// TestProjCreateFromFile creates a project from a manifest (a file, then
// stdin): fields Ferry does not model and the empty allow list are stored
// as written, flags override the manifest's fields, and a manifest of
// another name or namespace is refused.
func TestProjCreateFromFile(t *testing.T) {
	cleanupProject(t, "proj-file")
	file := filepath.Join(t.TempDir(), "proj.yaml")
	mustWrite(t, file, projManifest)
	if out := mustProj(t, "create", "-f", file); out != "project 'proj-file' created\n" {
		t.Errorf("create -f output = %q", out)
	}
	checkSpec(t, "proj-file", map[string]string{
		"namespaceResourceWhitelist": `[]`,
		"roles":                      `[{"name":"ci","policies":["p, proj:proj-file:ci, applications, sync, proj-file/*, allow"]}]`,
		"syncWindows":                `[{"applications":["*"],"duration":"8h","kind":"deny","schedule":"0 22 * * *"}]`,
		"description":                `"From a file"`,
	})
	if got := rawProject(t, "proj-file")["metadata"].(map[string]any)["labels"]; got.(map[string]any)["team"] != "a" {
		t.Errorf("labels = %v, want team=a", got)
	}

	projErr(t, "proj-file", []string{"create", "other-name", "-f", file}, `project name "other-name" does not match the manifest's metadata.name "proj-file"`)
	mustWrite(t, file, strings.Replace(projManifest, "name: proj-file", "name: proj-file\n  namespace: elsewhere", 1))
	projErr(t, "proj-file", []string{"create", "-f", file}, `metadata.namespace "elsewhere" is not the namespace of the projects, "argocd"`)
	mustWrite(t, file, strings.Replace(projManifest, "kind: AppProject", "kind: Application", 1))
	projErr(t, "proj-file", []string{"create", "-f", file}, `kind "Application": want argoproj.io/v1alpha1, AppProject`)

	// From stdin, with a flag over the manifest's description: the spec
	// differs, so --upsert replaces it.
	var out bytes.Buffer
	cmd := NewRootCmd(IOStreams{In: strings.NewReader(projManifest), Out: &out, Err: &out})
	cmd.SetArgs([]string{"proj", "create", "-f", "-", "--description", "From stdin", "--upsert",
		"--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext})
	if err := cmd.ExecuteContext(t.Context()); err != nil || out.String() != "project 'proj-file' updated\n" {
		t.Fatalf("create -f - --upsert: %v\n%s", err, out.String())
	}
	checkSpec(t, "proj-file", map[string]string{"description": `"From stdin"`, "namespaceResourceWhitelist": `[]`})
}

// TestProjListGetDelete lists and gets projects through the API server,
// then deletes them: refused for the default project and for one an
// Application uses.
func TestProjListGetDelete(t *testing.T) {
	createRawProject(t, `{"metadata":{"name":"proj-lg-a"},"spec":{"description":"Team A",
		"destinations":[{"server":"https://kubernetes.default.svc","namespace":"team-a"}],
		"sourceRepos":["https://github.com/myorg/a.git","https://github.com/myorg/b.git"],
		"namespaceResourceWhitelist":[],
		"roles":[{"name":"ci"}]}}`)
	createRawProject(t, `{"metadata":{"name":"proj-lg-b"},"spec":{"orphanedResources":{}}}`)

	out := mustProj(t, "list")
	if got := strings.Join(strings.Fields(strings.SplitN(out, "\n", 2)[0]), " "); got != "NAME DESCRIPTION DESTINATIONS SOURCES CLUSTER-RESOURCE-WHITELIST NAMESPACE-RESOURCE-BLACKLIST ORPHANED-RESOURCES DESTINATION-SERVICE-ACCOUNTS" {
		t.Errorf("proj list header = %q", got)
	}
	if row, want := tableRow(out, "proj-lg-a"), "proj-lg-a Team A https://kubernetes.default.svc,team-a 2 repos <none> <none> disabled <none>"; row != want {
		t.Errorf("proj list row = %q, want %q", row, want)
	}
	if row, want := tableRow(out, "proj-lg-b"), "proj-lg-b <none> <none> <none> <none> enabled (warn=false) <none>"; row != want {
		t.Errorf("proj list row = %q, want %q", row, want)
	}
	if out := mustProj(t, "list", "-o", "name"); !strings.Contains(out, "proj-lg-a\nproj-lg-b\n") {
		t.Errorf("proj list -o name:\n%s", out)
	}
	var items []map[string]any
	if err := json.Unmarshal([]byte(mustProj(t, "list", "-o", "json")), &items); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range items {
		if it["metadata"].(map[string]any)["name"] == "proj-lg-a" {
			found = true
			spec := it["spec"].(map[string]any)
			if wl, ok := spec["namespaceResourceWhitelist"].([]any); !ok || len(wl) != 0 || spec["roles"] == nil {
				t.Errorf("proj list -o json: spec of proj-lg-a = %v, want the empty whitelist and the roles as stored", spec)
			}
		}
	}
	if !found {
		t.Error("proj list -o json lacks proj-lg-a")
	}

	out = oneLine(mustProj(t, "get", "proj-lg-a"))
	for _, want := range []string{"Name: proj-lg-a", "Description: Team A", "Destinations: https://kubernetes.default.svc,team-a",
		"Repositories: https://github.com/myorg/a.git https://github.com/myorg/b.git", "Allowed Namespaced Resources: <none>", "Orphaned Resources: disabled"} {
		if !strings.Contains(out, want) {
			t.Errorf("proj get lacks %q:\n%s", want, out)
		}
	}
	if out := oneLine(mustProj(t, "get", "proj-lg-b")); !strings.Contains(out, "Allowed Namespaced Resources: <all>") {
		t.Errorf("proj get of a project without namespaceResourceWhitelist, want <all>:\n%s", out)
	}
	if out := mustProj(t, "get", "proj-lg-a", "-o", "yaml"); !strings.Contains(out, "namespaceResourceWhitelist: []\n") || !strings.Contains(out, "- name: ci\n") {
		t.Errorf("proj get -o yaml, want the spec as stored:\n%s", out)
	}
	projErr(t, "", []string{"get", "proj-lg-none"}, `project "proj-lg-none" not found in namespace argocd`)

	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "proj-lg-user"},
		Spec: v1alpha1.ApplicationSpec{Project: "proj-lg-a", Source: &v1alpha1.ApplicationSource{RepoURL: "file:///nonexistent/repo", Path: "."},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "team-a"}},
	}
	if err := env.Client.Create(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	cleanupApp(t, app.Name)
	projErr(t, "proj-lg-a", []string{"delete", "proj-lg-a"}, "project proj-lg-a is used by 1 Applications: argocd/proj-lg-user")
	projErr(t, "", []string{"delete", "default"}, `project "default" is reserved`)
	projErr(t, "", []string{"delete", "proj-lg-none"}, `project "proj-lg-none" not found in namespace argocd`)
	if err := env.Client.Delete(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	waitGone(t, app)
	if out := mustProj(t, "delete", "proj-lg-a", "proj-lg-b"); out != "project 'proj-lg-a' deleted\nproject 'proj-lg-b' deleted\n" {
		t.Errorf("proj delete output = %q", out)
	}
	for _, name := range []string{"proj-lg-a", "proj-lg-b"} {
		if rawProjectOrNil(t, name) != nil {
			t.Errorf("project %s still there after delete", name)
		}
	}
}

// waitGone waits until obj is deleted (an Application's finalizers run
// first), at most a minute.
func waitGone(t *testing.T, obj client.Object) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	for {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s still there after a minute (last error %v)", obj.GetName(), err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestProjAppListByProject checks that `app list -p` keeps the
// Applications of the named projects only.
func TestProjAppListByProject(t *testing.T) {
	// The projects exist for as long as their Applications: the controller
	// deletes nothing of an Application whose project it cannot read, so a
	// missing project would keep the cascading deletion waiting.
	for _, project := range []string{"team-a", "team-b", "team-c"} {
		createRawProject(t, `{"metadata":{"name":"`+project+`"},"spec":{"sourceRepos":["*"],"destinations":[{"server":"*","namespace":"*"}]}}`)
	}
	for name, project := range map[string]string{"proj-filter-a": "team-a", "proj-filter-b": "team-b", "proj-filter-c": "team-c"} {
		app := &v1alpha1.Application{
			ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name},
			Spec: v1alpha1.ApplicationSpec{Project: project, Source: &v1alpha1.ApplicationSource{RepoURL: "file:///nonexistent/repo", Path: "."},
				Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: name}},
		}
		if err := env.Client.Create(t.Context(), app); err != nil {
			t.Fatal(err)
		}
		cleanupApp(t, name)
	}
	out, err := ferry(t, "app", "list", "-p", "team-a", "--project", "team-c", "-o", "name")
	if err != nil {
		t.Fatalf("app list -p: %v\n%s", err, out)
	}
	var got []string
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, "argocd/proj-filter-") {
			got = append(got, line)
		}
	}
	if strings.Join(got, " ") != "argocd/proj-filter-a argocd/proj-filter-c" {
		t.Errorf("app list -p team-a -p team-c = %q, want argocd/proj-filter-a and argocd/proj-filter-c", got)
	}
	if out, err := ferry(t, "app", "list", "-p", "team-b"); err != nil || tableRow(out, "argocd/proj-filter-b") == "" || tableRow(out, "argocd/proj-filter-a") != "" {
		t.Errorf("app list -p team-b: %v\n%s", err, out)
	}
}

// TestProjTablesMatchGoldenFiles checks the list table and the get form
// against testdata/golden.
func TestProjTablesMatchGoldenFiles(t *testing.T) {
	projects := sampleProjects()
	for _, tc := range []struct {
		file  string
		print func(*bytes.Buffer) error
	}{
		{"proj-list.txt", func(b *bytes.Buffer) error { return printProjectTable(b, projects, false) }},
		{"proj-list-wide.txt", func(b *bytes.Buffer) error { return printProjectTable(b, projects, true) }},
		{"proj-get.txt", func(b *bytes.Buffer) error { return printProject(b, projects[0]) }},
		{"proj-get-empty.txt", func(b *bytes.Buffer) error { return printProject(b, projects[1]) }},
	} {
		var b bytes.Buffer
		if err := tc.print(&b); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		golden(t, tc.file, b.Bytes())
	}
}

func sampleProjects() []*v1alpha1.AppProject {
	return []*v1alpha1.AppProject{
		{
			ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "team-a"},
			Spec: v1alpha1.AppProjectSpec{
				Description: "Team A's services",
				SourceRepos: []string{"https://github.com/myorg/team-a.git", "!https://github.com/myorg/secrets.git"},
				Destinations: []v1alpha1.ApplicationDestination{
					{Server: "https://kubernetes.default.svc", Namespace: "team-a"}, {Name: "prod-us-east", Namespace: "team-a-*"},
				},
				ClusterResourceWhitelist:   []v1alpha1.ClusterResourceRestrictionItem{{Kind: "Namespace"}, {Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "team-a-*"}},
				ClusterResourceBlacklist:   []v1alpha1.ClusterResourceRestrictionItem{{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}},
				NamespaceResourceWhitelist: []v1alpha1.GroupKind{{Group: "apps", Kind: "Deployment"}},
				NamespaceResourceBlacklist: []v1alpha1.GroupKind{{Kind: "ResourceQuota"}},
				SourceNamespaces:           []string{"team-a-apps"},
				SyncWindows: v1alpha1.SyncWindows{
					{Kind: "deny", Schedule: "0 22 * * *", Duration: "8h", Applications: []string{"*"}, TimeZone: "Europe/Berlin", ManualSync: true},
					{Kind: "allow", Schedule: "0 6 * * 1-5", Duration: "1h", Namespaces: []string{"team-a"}, Clusters: []string{"prod-us-east"}, UseAndOperator: true},
				},
				OrphanedResources:          &v1alpha1.OrphanedResourcesMonitorSettings{Warn: new(true), Ignore: []v1alpha1.OrphanedResourceKey{{Kind: "ConfigMap"}}},
				DestinationServiceAccounts: []v1alpha1.ApplicationDestinationServiceAccount{{Server: "https://kubernetes.default.svc", Namespace: "team-a", DefaultServiceAccount: "deployer"}},
			},
		},
		{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "empty"}},
	}
}
