package appset_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cli"
	"github.com/ferrycd/ferry/internal/cluster"
	appsetctrl "github.com/ferrycd/ferry/internal/controller/appset"
	"github.com/ferrycd/ferry/internal/controller/controllertest"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

var env controllertest.Env

func TestMain(m *testing.M) {
	os.Exit(controllertest.Run(m, &env))
}

// registerCluster writes an Argo CD cluster Secret for a (fake) server.
func registerCluster(ctx context.Context, t *testing.T, name, server string, labels map[string]string) *corev1.Secret {
	t.Helper()
	data, secretLabels, err := cluster.ToSecretData(cluster.Cluster{Name: name, Server: server, Labels: labels,
		Config: cluster.Config{BearerToken: "token-" + name}})
	if err != nil {
		t.Fatal(err)
	}
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "cluster-" + name, Namespace: "argocd", Labels: secretLabels}, Data: data}
	if err := env.Client.Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), s) })
	return s
}

// generated lists the Applications the ApplicationSet owns, as
// "name path server".
func generated(ctx context.Context, as *unstructured.Unstructured) ([]string, error) {
	list := &v1alpha1.ApplicationList{}
	if err := env.Client.List(ctx, list, client.InNamespace("argocd")); err != nil {
		return nil, err
	}
	var out []string
	for _, app := range list.Items {
		if ref := metav1.GetControllerOf(&app); ref != nil && ref.UID == as.GetUID() {
			out = append(out, app.Name+" "+app.Spec.Source.Path+" "+app.Spec.Destination.Server)
		}
	}
	slices.Sort(out)
	return out, nil
}

func waitGenerated(t *testing.T, as *unstructured.Unstructured, want []string) {
	t.Helper()
	localclustertest.Eventually(t, time.Minute, fmt.Sprintf("Applications %q", want), func(ctx context.Context) (bool, string) {
		got, err := generated(ctx, as)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(got, want), fmt.Sprintf("%q", got)
	})
}

// TestExampleApplicationSet applies the example ApplicationSet verbatim over
// three registered clusters: the two labelled environment=production get
// an Application each (name, path and server from the cluster); labelling
// the third adds one; removing the label removes it; the status lists them.
func TestExampleApplicationSet(t *testing.T) {
	ctx := t.Context()
	registerCluster(ctx, t, "prod-us-east", "https://10.1.0.1:6443", map[string]string{"environment": "production", "region": "us-east"})
	registerCluster(ctx, t, "prod-eu-west", "https://10.2.0.1:6443", map[string]string{"environment": "production", "region": "eu-west"})
	third := registerCluster(ctx, t, "staging-ap", "https://10.3.0.1:6443", map[string]string{"environment": "staging", "region": "ap-south"})

	as := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(examples.ApplicationSet(), &as.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatalf("create the example ApplicationSet: %v", err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })
	waitGenerated(t, as, []string{
		"myapp-prod-eu-west apps/eu-west/myapp https://10.2.0.1:6443",
		"myapp-prod-us-east apps/us-east/myapp https://10.1.0.1:6443",
	})

	third.Labels["environment"] = "production"
	if err := env.Client.Update(ctx, third); err != nil {
		t.Fatal(err)
	}
	waitGenerated(t, as, []string{
		"myapp-prod-eu-west apps/eu-west/myapp https://10.2.0.1:6443",
		"myapp-prod-us-east apps/us-east/myapp https://10.1.0.1:6443",
		"myapp-staging-ap apps/ap-south/myapp https://10.3.0.1:6443",
	})
	third.Labels["environment"] = "staging"
	if err := env.Client.Update(ctx, third); err != nil {
		t.Fatal(err)
	}
	waitGenerated(t, as, []string{
		"myapp-prod-eu-west apps/eu-west/myapp https://10.2.0.1:6443",
		"myapp-prod-us-east apps/us-east/myapp https://10.1.0.1:6443",
	})

	localclustertest.Eventually(t, 30*time.Second, "status.resources lists the two Applications", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.ApplicationSet{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(as), got); err != nil {
			return false, err.Error()
		}
		var names []string
		for _, r := range got.Status.Resources {
			names = append(names, r.Name)
		}
		slices.Sort(names)
		return slices.Equal(names, []string{"myapp-prod-eu-west", "myapp-prod-us-east"}), fmt.Sprintf("%q", names)
	})
}

// TestApplicationSetTemplateError: goTemplate with missingkey=error and a
// key no parameter set has is a RenderTemplateParamsError condition naming
// it; nothing is generated.
func TestApplicationSetTemplateError(t *testing.T) {
	ctx := t.Context()
	as := &v1alpha1.ApplicationSet{ObjectMeta: metav1.ObjectMeta{Name: "broken-template", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSetSpec{GoTemplate: true, GoTemplateOptions: []string{"missingkey=error"},
			Generators: []apiextJSON{{Raw: []byte(`{"list":{"elements":[{"env":"dev"}]}}`)}},
			Template: v1alpha1.ApplicationSetTemplate{
				Metadata: apiextJSON{Raw: []byte(`{"name":"web-{{.env}}-{{.region}}"}`)},
				Spec: apiextJSON{Raw: []byte(`{"project":"default","source":{"repoURL":"https://git.example.com/r.git","path":"web"},` +
					`"destination":{"server":"https://kubernetes.default.svc","namespace":"web"}}`)}}}}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })
	localclustertest.Eventually(t, time.Minute, "ErrorOccurred naming the missing key", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.ApplicationSet{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(as), got); err != nil {
			return false, err.Error()
		}
		for _, c := range got.Status.Conditions {
			if c.Type == appsetctrl.ConditionErrorOccurred && c.Status == "True" && c.Reason == appsetctrl.ReasonRenderTemplateParamsError &&
				strings.Contains(c.Message, "region") && strings.Contains(c.Message, "parameter set 0") {
				return true, c.Message
			}
		}
		return false, fmt.Sprintf("%+v", got.Status.Conditions)
	})
	u := &unstructured.Unstructured{}
	u.SetUID(as.UID)
	if apps, _ := generated(ctx, u); len(apps) != 0 {
		t.Errorf("Applications generated despite the template error: %q", apps)
	}
}

type apiextJSON = apiextensionsv1.JSON

func ferry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCmd(cli.IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.SetArgs(append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestAppSetCLI: preview prints what the example ApplicationSet would
// generate over the registered clusters, creating nothing; list and get
// show a created one with its Applications.
func TestAppSetCLI(t *testing.T) {
	ctx := t.Context()
	registerCluster(ctx, t, "cli-us", "https://10.4.0.1:6443", map[string]string{"environment": "production", "region": "us"})
	file := filepath.Join(t.TempDir(), "appset.yaml")
	manifest := strings.Replace(string(examples.ApplicationSet()), "name: myapp-all-clusters", "name: cli-appset", 1)
	if err := os.WriteFile(file, []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := ferry(t, "appset", "preview", file)
	if err != nil || !strings.Contains(out, "myapp-cli-us") || !strings.Contains(out, "apps/us/myapp") || !strings.Contains(out, "https://10.4.0.1:6443") {
		t.Fatalf("ferry appset preview: %v\n%s", err, out)
	}
	list := &v1alpha1.ApplicationList{}
	if err := env.Client.List(ctx, list, client.InNamespace("argocd")); err != nil {
		t.Fatal(err)
	}
	for _, a := range list.Items {
		if a.Name == "myapp-cli-us" {
			t.Error("preview created an Application")
		}
	}
	as := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &as.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })
	localclustertest.Eventually(t, time.Minute, "appset list and get show the generated Application", func(ctx context.Context) (bool, string) {
		listOut, err1 := ferry(t, "appset", "list")
		getOut, err2 := ferry(t, "appset", "get", "cli-appset")
		ok := err1 == nil && err2 == nil && strings.Contains(listOut, "cli-appset") && strings.Contains(getOut, "argocd/myapp-cli-us")
		return ok, listOut + getOut
	})
}

// TestMatrixGitClustersList: a matrix of three children — the directories
// of a real Git repository (read through Ferry's Git cache), the registered
// production clusters, and a list — generates their product.
func TestMatrixGitClustersList(t *testing.T) {
	ctx := t.Context()
	repo := t.TempDir()
	for _, dir := range []string{"services/api", "services/web", "services/old"} {
		if err := os.MkdirAll(filepath.Join(repo, dir), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, dir, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "services"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	registerCluster(ctx, t, "matrix-a", "https://10.5.0.1:6443", map[string]string{"environment": "production"})
	registerCluster(ctx, t, "matrix-b", "https://10.6.0.1:6443", map[string]string{"environment": "production"})
	gens := `[{"matrix":{"generators":[
		{"git":{"repoURL":"file://` + repo + `","revision":"main","directories":[{"path":"services/*"},{"path":"services/old","exclude":true}]}},
		{"clusters":{"selector":{"matchLabels":{"environment":"production"}}}},
		{"list":{"elements":[{"tier":"gold"},{"tier":"silver"}]}}]}}]`
	var raw []apiextJSON
	if err := json.Unmarshal([]byte(gens), &raw); err != nil {
		t.Fatal(err)
	}
	as := &v1alpha1.ApplicationSet{ObjectMeta: metav1.ObjectMeta{Name: "matrix", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSetSpec{Generators: raw, Template: v1alpha1.ApplicationSetTemplate{
			Metadata: apiextJSON{Raw: []byte(`{"name":"{{path.basename}}-{{name}}-{{tier}}"}`)},
			Spec: apiextJSON{Raw: []byte(`{"project":"default","source":{"repoURL":"file://` + repo + `","targetRevision":"main","path":"{{path}}"},` +
				`"destination":{"server":"{{server}}","namespace":"{{path.basename}}"}}`)}}}}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })
	u := &unstructured.Unstructured{}
	localclustertest.Eventually(t, time.Minute, "2 directories × 2 clusters × 2 tiers", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.ApplicationSet{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(as), got); err != nil {
			return false, err.Error()
		}
		u.SetUID(got.UID)
		apps, err := generated(ctx, u)
		if err != nil {
			return false, err.Error()
		}
		return len(apps) == 8 && slices.Contains(apps, "api-matrix-a-gold services/api https://10.5.0.1:6443") &&
			slices.Contains(apps, "web-matrix-b-silver services/web https://10.6.0.1:6443"), fmt.Sprintf("%q %+v", apps, got.Status.Conditions)
	})
}

// TestTemplateChangesAndSyncPolicy: a template change updates the generated
// Application; with applicationsSync create-only, neither a template change
// nor a removed parameter set touches it.
func TestTemplateChangesAndSyncPolicy(t *testing.T) {
	ctx := t.Context()
	spec := func(path string) apiextJSON {
		return apiextJSON{Raw: []byte(`{"project":"default","source":{"repoURL":"https://git.example.com/r.git","path":"` + path + `/{{env}}"},` +
			`"destination":{"server":"https://kubernetes.default.svc","namespace":"{{env}}"}}`)}
	}
	as := &v1alpha1.ApplicationSet{ObjectMeta: metav1.ObjectMeta{Name: "policy", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSetSpec{
			Generators: []apiextJSON{{Raw: []byte(`{"list":{"elements":[{"env":"dev"},{"env":"qa"}]}}`)}},
			Template:   v1alpha1.ApplicationSetTemplate{Metadata: apiextJSON{Raw: []byte(`{"name":"policy-{{env}}"}`)}, Spec: spec("v1")}}}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })
	u := &unstructured.Unstructured{}
	u.SetUID(as.UID)
	waitGenerated(t, u, []string{"policy-dev v1/dev https://kubernetes.default.svc", "policy-qa v1/qa https://kubernetes.default.svc"})

	update := func(mutate func(*v1alpha1.ApplicationSet)) {
		t.Helper()
		// The controller writes the ApplicationSet's status meanwhile.
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			cur := &v1alpha1.ApplicationSet{}
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(as), cur); err != nil {
				return err
			}
			mutate(cur)
			return env.Client.Update(ctx, cur)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	update(func(a *v1alpha1.ApplicationSet) { a.Spec.Template.Spec = spec("v2") })
	waitGenerated(t, u, []string{"policy-dev v2/dev https://kubernetes.default.svc", "policy-qa v2/qa https://kubernetes.default.svc"})

	update(func(a *v1alpha1.ApplicationSet) {
		a.Spec.SyncPolicy = &v1alpha1.ApplicationSetSyncPolicy{ApplicationsSync: "create-only"}
		a.Spec.Template.Spec = spec("v3")
		a.Spec.Generators = []apiextJSON{{Raw: []byte(`{"list":{"elements":[{"env":"dev"}]}}`)}}
	})
	localclustertest.Eventually(t, 30*time.Second, "create-only status", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.ApplicationSet{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(as), got); err != nil {
			return false, err.Error()
		}
		return len(got.Status.Resources) == 1, fmt.Sprintf("%+v", got.Status.Resources)
	})
	time.Sleep(2 * time.Second)
	if apps, _ := generated(ctx, u); !slices.Equal(apps, []string{"policy-dev v2/dev https://kubernetes.default.svc", "policy-qa v2/qa https://kubernetes.default.svc"}) {
		t.Errorf("create-only changed or deleted Applications: %q", apps)
	}
}

// TestWebhookRefreshesGitGenerator: a push announced by a GitHub webhook
// makes an ApplicationSet with a git generator on that repository run at
// once (its periodic rerun is 3 minutes away).
func TestWebhookRefreshesGitGenerator(t *testing.T) {
	ctx := t.Context()
	repo := t.TempDir()
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = repo
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	addDir := func(name string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(repo, "teams", name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, "teams", name, "cm.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", "-A")
		git("commit", "-q", "-m", name)
	}
	git("init", "-q", "-b", "main")
	addDir("alpha")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: "argocd"},
		StringData: map[string]string{"webhook.github.secret": "gh-appset"}}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), secret) })
	as := &v1alpha1.ApplicationSet{ObjectMeta: metav1.ObjectMeta{Name: "teams", Namespace: "argocd"},
		Spec: v1alpha1.ApplicationSetSpec{
			Generators: []apiextJSON{{Raw: []byte(`{"git":{"repoURL":"file://` + repo + `","revision":"main","directories":[{"path":"teams/*"}]}}`)}},
			Template: v1alpha1.ApplicationSetTemplate{Metadata: apiextJSON{Raw: []byte(`{"name":"team-{{path.basename}}"}`)},
				Spec: apiextJSON{Raw: []byte(`{"project":"default","source":{"repoURL":"file://` + repo + `","targetRevision":"main","path":"{{path}}"},` +
					`"destination":{"server":"https://kubernetes.default.svc","namespace":"{{path.basename}}"}}`)}}}}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })
	u := &unstructured.Unstructured{}
	u.SetUID(as.UID)
	waitGenerated(t, u, []string{"team-alpha teams/alpha https://kubernetes.default.svc"})

	addDir("beta")
	body := []byte(`{"ref":"refs/heads/main","after":"0123456789abcdef0123456789abcdef01234567","repository":{"clone_url":"file://` + repo + `"}}`)
	mac := hmac.New(sha256.New, []byte("gh-appset"))
	mac.Write(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL+"/api/webhook", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-GitHub-Event", "push")
	req.Header.Set("X-GitHub-Delivery", "appset-1")
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The ApplicationSet, and team-alpha, whose source is the same branch.
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(out), `"refreshed":2`) {
		t.Fatalf("webhook: %s %s", resp.Status, out)
	}
	waitGenerated(t, u, []string{"team-alpha teams/alpha https://kubernetes.default.svc", "team-beta teams/beta https://kubernetes.default.svc"})

	// A replica that does not lead marks the ApplicationSet instead (Argo
	// CD's refresh annotation): the leader lists the repository again,
	// generates, and removes the mark.
	addDir("gamma")
	mark := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+appsetctrl.RefreshAnnotation+`":"true"}}}`))
	if err := env.Client.Patch(ctx, as.DeepCopy(), mark); err != nil {
		t.Fatal(err)
	}
	waitGenerated(t, u, []string{"team-alpha teams/alpha https://kubernetes.default.svc", "team-beta teams/beta https://kubernetes.default.svc",
		"team-gamma teams/gamma https://kubernetes.default.svc"})
	localclustertest.Eventually(t, time.Minute, "the refresh annotation removed", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.ApplicationSet{}
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(as), got); err != nil {
			return false, err.Error()
		}
		return got.Annotations[appsetctrl.RefreshAnnotation] == "", fmt.Sprint(got.Annotations)
	})
}
