package uitest_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/controller"
	"github.com/ferrycd/ferry/internal/controller/controllertest"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/gittest"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

var (
	env   controllertest.Env
	uiURL string
)

// selfHealDelay gives the test time to see a drift in the browser before
// the controller reverts it.
const selfHealDelay = 20 * time.Second

func TestMain(m *testing.M) {
	addr := controllertest.FreeAddr()
	uiURL = "http://" + addr
	env.Configure = func(o *controller.Options) {
		o.UIAddr = addr
		o.SelfHealDelay = selfHealDelay
	}
	os.Exit(controllertest.Run(m, &env))
}

// secretProbe is a value that must never reach a page: a Secret managed by
// myapp-staging holds it.
const secretProbe = "ferry-ui-probe-7c1d0f9a52e4"

// seedRepo is the seed's repository: staging from its myapp manifests
// (plus a Secret holding secretProbe), production from its sync-wave
// manifests, on main, and a staging branch.
func seedRepo(t *testing.T) (dir, repoURL string) {
	dir = t.TempDir()
	myapp := examples.MyApp()
	entries, err := fs.ReadDir(myapp, ".")
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, data []byte) {
		full := filepath.Join(dir, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range entries {
		data, err := fs.ReadFile(myapp, e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "kustomization.yaml" {
			data = append(data, []byte("  - secret.yaml\n")...)
		}
		write("apps/staging/myapp/"+e.Name(), data)
	}
	write("apps/staging/myapp/secret.yaml", []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: myapp-token\nstringData:\n  token: "+secretProbe+"\n"))
	write("apps/production/myapp/manifests.yaml", examples.SyncWaves())
	gittest.Git(t, dir, "init", "-q", "-b", "main")
	gittest.Git(t, dir, "add", "-A")
	gittest.Git(t, dir, "commit", "-q", "-m", "myapp for staging and production")
	gittest.Git(t, dir, "branch", "staging")
	return dir, "file://" + dir
}

// seedApplications creates the seed's two Applications verbatim, repoURL
// pointed at the test's repository.
func seedApplications(ctx context.Context, t *testing.T, repoURL string) {
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		app := &v1alpha1.Application{}
		if err := yaml.Unmarshal(doc, app); err != nil {
			t.Fatal(err)
		}
		app.Spec.Source.RepoURL = repoURL
		if err := env.Client.Create(ctx, app); err != nil {
			t.Fatalf("create %s: %v", app.Name, err)
		}
	}
}

// seedImageAutomation applies the seed's image automation objects with
// their GitRepository a bare copy of dir (the automation pushes there, so
// the Applications' history stays the test's own), and
// their registry pointed at a real OCI registry on loopback holding tags.
func seedImageAutomation(ctx context.Context, t *testing.T, dir string) {
	bare := filepath.Join(t.TempDir(), "gitops-repo.git")
	gittest.Git(t, dir, "clone", "-q", "--bare", dir, bare)
	repoURL := "file://" + bare
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"0.9.0", "1.0.0", "1.2.3", "1.3.0", "latest"} {
		ref, err := name.NewTag(host+"/myapp:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}
	if err := env.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	data := bytes.ReplaceAll(examples.ImageAutomation(), []byte("registry.example.com"), []byte(host))
	gitRepo := fmt.Sprintf("apiVersion: source.toolkit.fluxcd.io/v1\nkind: GitRepository\nmetadata:\n  name: gitops-repo\n  namespace: flux-system\nspec:\n  url: %s\n  interval: 1m\n  ref:\n    branch: main\n", repoURL)
	for _, u := range localclustertest.Objects(t, append([]byte(gitRepo+"---\n"), data...)) {
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// serviceAccountToken makes a ServiceAccount in argocd bound to
// clusterRole and returns a token for it: a person logging in.
func serviceAccountToken(ctx context.Context, t *testing.T, saName, clusterRole string) string {
	admin := kubernetes.NewForConfigOrDie(env.Cluster.AdminConfig())
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName, Namespace: "argocd"}}
	if _, err := admin.CoreV1().ServiceAccounts("argocd").Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "ui-test-" + saName},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: clusterRole},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: saName, Namespace: "argocd"}}}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts("argocd").CreateToken(ctx, saName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}

// viewerRole may read Applications and what their pages show, and change
// nothing.
func viewerRole(ctx context.Context, t *testing.T) string {
	admin := kubernetes.NewForConfigOrDie(env.Cluster.AdminConfig())
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ui-test-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"argoproj.io"}, Resources: []string{"applications", "applicationsets", "appprojects"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"", "apps", "batch"}, Resources: []string{"pods", "replicasets", "deployments", "jobs", "events", "services", "configmaps"}, Verbs: []string{"get", "list", "watch"}},
	}}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	return role.Name
}

func getApp(ctx context.Context, t *testing.T, name string) *v1alpha1.Application {
	t.Helper()
	app := &v1alpha1.Application{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: name}, app); err != nil {
		t.Fatal(err)
	}
	return app
}

func waitApp(t *testing.T, name, what string, cond func(*v1alpha1.Application) bool) *v1alpha1.Application {
	t.Helper()
	var app *v1alpha1.Application
	localclustertest.Eventually(t, 3*time.Minute, name+" "+what, func(ctx context.Context) (bool, string) {
		app = getApp(ctx, t, name)
		return cond(app), fmt.Sprintf("sync %s at %.7s, health %s, operation %v, annotations %v", app.Status.Sync.Status, app.Status.Sync.Revision,
			app.Status.Health.Status, app.Operation != nil, app.Annotations)
	})
	return app
}

// TestUIInABrowser walks the seed's workflows in a real browser, a
// screenshot per step.
func TestUIInABrowser(t *testing.T) {
	ctx := context.Background()
	dir, repoURL := seedRepo(t)
	seedApplications(ctx, t, repoURL)
	seedImageAutomation(ctx, t, dir)
	operator := serviceAccountToken(ctx, t, "ui-operator", "cluster-admin")
	viewer := serviceAccountToken(ctx, t, "ui-viewer", viewerRole(ctx, t))
	b := newBrowser(t)

	t.Log("log in")
	run(t, b, "open the login page", time.Minute,
		chromedp.Navigate(uiURL+"/applications"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), operator))
	screenshot(t, b, "01-login")
	run(t, b, "log in", time.Minute,
		chromedp.Click(chromedp.ID("login")),
		chromedp.WaitVisible(chromedp.ID("apps")),
		waitText("#user", "system:serviceaccount:argocd:ui-operator"))

	t.Log("the seed's Applications with their statuses, live")
	run(t, b, "see the statuses", 3*time.Minute,
		waitText(`tr[data-app="argocd/myapp-staging"] [data-field=sync]`, "Synced"),
		waitText(`tr[data-app="argocd/myapp-staging"] [data-field=health]`, "Healthy"),
		waitText(`tr[data-app="argocd/myapp-production"] [data-field=sync]`, "OutOfSync"),
		// the counts follow the stream too
		waitText(`[data-count="sync-OutOfSync"]`, "1"),
		waitText(`[data-count="sync-Synced"]`, "1"))
	screenshot(t, b, "02-applications")

	t.Log("myapp-staging's tree: Deployment, ReplicaSet, Pods")
	run(t, b, "open myapp-staging", time.Minute,
		chromedp.Click(chromedp.CSS(`tr[data-app="argocd/myapp-staging"] a`)),
		waitText("#app-name", "myapp-staging"),
		chromedp.WaitVisible(chromedp.CSS(`#tree li[data-kind=Deployment] li[data-kind=ReplicaSet] li[data-kind=Pod]`)))
	screenshot(t, b, "03-staging-tree")

	t.Log("scale by hand: the diff shows it before self-heal reverts it")
	scale(ctx, t, "staging", "myapp", 5)
	run(t, b, "see the drift", time.Minute, waitText("#app-sync", "OutOfSync"))
	run(t, b, "open the Deployment's diff", time.Minute,
		chromedp.Click(chromedp.CSS(`#tree li[data-kind=Deployment] > a`)),
		waitText("pre.diff", "replicas: 5"))
	diff := value(t, b, "read the diff", chromedp.Evaluate[string](`document.querySelector("pre.diff").innerText`))
	if !strings.Contains(diff, "-  replicas: 5") || !strings.Contains(diff, "+  replicas: 2") {
		t.Fatalf("the diff should take replicas from 5 (live) to 2 (Git):\n%s", diff)
	}
	screenshot(t, b, "04-drift-diff")
	run(t, b, "back to the Application", time.Minute,
		chromedp.Navigate(uiURL+"/applications/argocd/myapp-staging"),
		waitText("#app-sync", "OutOfSync"))
	run(t, b, "self-heal reverts it", 2*time.Minute, waitText("#app-sync", "Synced"))

	t.Log("sync myapp-production and watch its waves")
	run(t, b, "open myapp-production", time.Minute,
		chromedp.Navigate(uiURL+"/applications/argocd/myapp-production"),
		waitText("#app-sync", "OutOfSync"),
		chromedp.Click(chromedp.ID("sync-open")),
		chromedp.WaitVisible(chromedp.ID("sync")))
	screenshot(t, b, "05-production-sync-dialog")
	run(t, b, "press Sync", time.Minute,
		chromedp.Click(chromedp.ID("sync")),
		chromedp.WaitVisible(chromedp.ID("waves")))
	screenshot(t, b, "06-production-waves-running")
	run(t, b, "the waves finish", 3*time.Minute,
		waitText("#op-phase", "Succeeded"),
		waitText(`#waves [data-wave="Sync/2"]`, "✓"),
		waitText(`#waves [data-wave="PreSync/1"]`, "db-migrate"),
		waitText("#app-sync", "Synced"))
	screenshot(t, b, "07-production-synced")
	first := getApp(ctx, t, "myapp-production").Status.Sync.Revision

	t.Log("a second deployment, then roll back to the first")
	waves := filepath.Join(dir, "apps/production/myapp/manifests.yaml")
	data, err := os.ReadFile(waves)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(waves, append(data, []byte("---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-notes\ndata:\n  notes: second release\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, dir, "add", "-A")
	gittest.Git(t, dir, "commit", "-q", "--author", "Release Manager <rm@example.com>", "-m", "Add release notes")
	run(t, b, "press Refresh", time.Minute, chromedp.Click(chromedp.ID("refresh")))
	waitApp(t, "myapp-production", "compared with the new commit", func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Revision != first && a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync
	})
	run(t, b, "sync the new commit", 3*time.Minute,
		waitText("#app-sync", "OutOfSync"),
		chromedp.Click(chromedp.ID("sync-open")),
		chromedp.Click(chromedp.ID("sync")),
		waitText(`#waves`, "release-notes"),
		waitText("#op-phase", "Succeeded"))
	waitApp(t, "myapp-production", "has two history entries", func(a *v1alpha1.Application) bool { return len(a.Status.History) == 2 })
	run(t, b, "history shows commits and authors", time.Minute,
		chromedp.Navigate(uiURL+"/applications/argocd/myapp-production"),
		waitText(`tr[data-history="1"]`, "myapp for staging and production"),
		waitText(`tr[data-history="2"]`, "Add release notes"),
		waitText(`tr[data-history="2"]`, "Release Manager"))
	screenshot(t, b, "08-history")
	run(t, b, "roll back to entry 1", 3*time.Minute,
		chromedp.Click(chromedp.ID("rollback-1")),
		waitText("#op-phase", "Succeeded"))
	waitApp(t, "myapp-production", "rolled back to the first commit", func(a *v1alpha1.Application) bool {
		st := a.Status.OperationState
		return st != nil && st.Phase == v1alpha1.OperationSucceeded && st.SyncResult != nil && st.SyncResult.Revision == first
	})
	// Without prune the release-notes ConfigMap stays, so the live state
	// still matches main: the entry, not the sync status, shows the
	// rollback.
	run(t, b, "the page shows the rollback finished", time.Minute,
		waitText(`tr[data-history="3"]`, first[:7]),
		waitText(`tr[data-history="3"]`, "myapp for staging and production"),
		waitText("#op-phase", "Succeeded"))
	screenshot(t, b, "09-rolled-back")

	t.Log("image automation: the chosen tag and why")
	run(t, b, "see the chosen tag", 2*time.Minute,
		chromedp.Func(func(ctx context.Context, tgt *chromedp.Target) error {
			for {
				if _, err := chromedp.Navigate(uiURL+"/images")(ctx, tgt); err != nil {
					return err
				}
				text, _ := chromedp.Evaluate[string](`document.body.innerText`)(ctx, tgt)
				if strings.Contains(text, "1.3.0") {
					return nil
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("no chosen tag 1.3.0 on the page:\n%s", text)
				case <-time.After(time.Second):
				}
			}
		}),
		waitText(`tr[data-policy="flux-system/myapp"] .chosen`, "1.3.0"),
		waitText(`tr[data-policy="flux-system/myapp"]`, "semver range >=1.0.0"),
		waitText(`tr[data-automation="flux-system/myapp"]`, "True"))
	pushed := value(t, b, "the last pushed commit", chromedp.Evaluate[string](`document.querySelector('tr[data-automation="flux-system/myapp"] .pushed').innerText`))
	if len(pushed) != 7 {
		t.Fatalf("the automation's last pushed commit shows %q, want a short commit", pushed)
	}
	screenshot(t, b, "10-image-automation")

	for _, page := range []struct{ path, want string }{
		{"/applicationsets", "ApplicationSets"},
		{"/projects", "default"},
	} {
		run(t, b, "open "+page.path, time.Minute, chromedp.Navigate(uiURL+page.path), waitText("main", page.want))
	}
	run(t, b, "the in-cluster connection", time.Minute,
		chromedp.Navigate(uiURL+"/clusters"),
		waitText(`tr[data-cluster="in-cluster"]`, "Successful"))
	screenshot(t, b, "11-clusters")

	t.Log("keyboard: / searches, j/k move between Applications, Enter opens")
	keyboard(t, b)

	t.Log("a viewer sees no Sync button, and a forged sync is refused by the API server")
	run(t, b, "log out", time.Minute,
		chromedp.Navigate(uiURL+"/applications"),
		chromedp.Click(chromedp.CSS(".who button")),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SetValue(chromedp.ID("token"), viewer),
		chromedp.Click(chromedp.ID("login")),
		waitText("#user", "ui-viewer"),
		chromedp.Navigate(uiURL+"/applications/argocd/myapp-staging"),
		chromedp.WaitVisible(chromedp.ID("read-only")))
	syncButtons := value(t, b, "count action buttons", chromedp.Evaluate[int](`document.querySelectorAll("#sync, #sync-open, #refresh").length`))
	if syncButtons != 0 {
		t.Fatalf("a viewer sees %d action buttons", syncButtons)
	}
	screenshot(t, b, "12-viewer")
	forged(t, viewer)

	t.Log("no Secret value in any page or response")
	noSecrets(t, operator, viewer)
}

// scale changes the Deployment's replicas as a person would with kubectl.
func scale(ctx context.Context, t *testing.T, ns, name string, replicas int32) {
	t.Helper()
	admin := kubernetes.NewForConfigOrDie(env.Cluster.AdminConfig())
	s, err := admin.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Spec.Replicas = replicas
	if _, err := admin.AppsV1().Deployments(ns).UpdateScale(ctx, name, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func keyboard(t *testing.T, b context.Context) {
	active := chromedp.Evaluate[string](`document.activeElement.id || document.activeElement.textContent`)
	run(t, b, "keyboard on the list", time.Minute,
		chromedp.Navigate(uiURL+"/applications?sort=name"),
		chromedp.WaitVisible(chromedp.ID("apps")),
		chromedp.KeyEvent("/"))
	focused := value(t, b, "focused", active)
	if focused != "filter-q" {
		t.Fatalf("/ focused %q, want the search field", focused)
	}
	run(t, b, "j moves to the first Application", time.Minute,
		chromedp.Blur(chromedp.ID("filter-q")),
		chromedp.KeyEvent("j"))
	focused = value(t, b, "focused", active)
	if focused != "myapp-production" {
		t.Fatalf("j focused %q, want myapp-production (the first by name)", focused)
	}
	run(t, b, "j, k", time.Minute, chromedp.KeyEvent("j"), chromedp.KeyEvent("k"))
	focused = value(t, b, "focused", active)
	if focused != "myapp-production" {
		t.Fatalf("j then k focused %q, want myapp-production", focused)
	}
	run(t, b, "Enter opens it", time.Minute, chromedp.KeyEvent("\r"), waitText("#app-name", "myapp-production"))
	// The Application page: Tab reaches the skip link first, and the sync
	// dialog opens and is walked with the keyboard alone.
	run(t, b, "Tab on the Application page", time.Minute, chromedp.Navigate(uiURL+"/applications/argocd/myapp-production"),
		chromedp.WaitVisible(chromedp.ID("sync-open")), chromedp.KeyEvent("\t"))
	if focused := value(t, b, "focused", active); focused != "Skip to content" {
		t.Fatalf("the first Tab focused %q, want the skip link", focused)
	}
	run(t, b, "Enter on the sync summary, then Tab", time.Minute,
		chromedp.Focus(chromedp.ID("sync-open")), chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.ID("sync-prune")), chromedp.KeyEvent("\t"))
	if focused := value(t, b, "focused", active); focused != "sync-prune" {
		t.Fatalf("Tab after opening the sync dialog focused %q, want its prune checkbox", focused)
	}
	// Every control has a label a screen reader reads.
	for _, path := range []string{"/applications", "/applications/argocd/myapp-production", "/applications?view=tiles"} {
		run(t, b, "open "+path, time.Minute, chromedp.Navigate(uiURL+path), chromedp.WaitVisible(chromedp.CSS("main")))
		unlabelled := value(t, b, "labels on "+path, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("input:not([type=hidden]), select, textarea, button, summary, a")).
				filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !e.textContent.trim()).
				map(e => e.outerHTML.slice(0, 80))`))
		if len(unlabelled) > 0 {
			t.Fatalf("controls without a label on %s: %v", path, unlabelled)
		}
	}
}

// forged sends what a viewer's browser would not: a sync with the CSRF
// token (the API server refuses it: no update on Applications), and an
// action without the token (the UI refuses it).
func forged(t *testing.T, viewer string) {
	s := httpLogin(t, uiURL, viewer)
	code, body := s.post("/applications/argocd/myapp-staging/sync", url.Values{"csrf": {s.csrf()}})
	if code != http.StatusForbidden || !strings.Contains(body, "forbidden") || !strings.Contains(body, "ui-viewer") {
		t.Fatalf("a viewer's forged sync: %d, want 403 with the API server's message:\n%s", code, body)
	}
	if app := getApp(context.Background(), t, "myapp-staging"); app.Operation != nil {
		t.Fatalf("the forged sync started an operation: %+v", app.Operation)
	}
	code, body = s.post("/applications/argocd/myapp-staging/refresh", url.Values{})
	if code != http.StatusForbidden || !strings.Contains(body, "CSRF") {
		t.Fatalf("an action without the CSRF token: %d, want 403 naming CSRF:\n%s", code, body)
	}
}

// noSecrets crawls every page and response the server sends, as both
// people, and looks for the Secret's value (plain and base64) and the
// login tokens.
func noSecrets(t *testing.T, tokens ...string) {
	forbidden := append([]string{secretProbe, base64.StdEncoding.EncodeToString([]byte(secretProbe))}, tokens...)
	linkRE := regexp.MustCompile(`href="(/[^"#]*)"`)
	for _, token := range tokens {
		s := httpLogin(t, uiURL, token)
		seen := map[string]bool{}
		queue := []string{"/applications", "/applications/argocd/myapp-staging/live", "/applications/argocd/myapp-staging/resource?group=&version=v1&kind=Secret&namespace=staging&name=myapp-token"}
		for len(queue) > 0 && len(seen) < 200 {
			path := strings.ReplaceAll(queue[0], "&amp;", "&")
			queue = queue[1:]
			if seen[path] || strings.HasPrefix(path, "/assets/") {
				continue
			}
			seen[path] = true
			_, body := s.get(path)
			for _, f := range forbidden {
				if strings.Contains(body, f) {
					t.Fatalf("%s shows a secret (%.12s…)", path, f)
				}
			}
			for _, m := range linkRE.FindAllStringSubmatch(body, -1) {
				queue = append(queue, m[1])
			}
		}
		if !seen["/applications/argocd/myapp-staging/resource?group=&version=v1&kind=Secret&namespace=staging&name=myapp-token"] || len(seen) < 10 {
			t.Fatalf("the crawl saw too little: %v", seen)
		}
		live := s.sse(t, "/events", func() { s.refresh(t, "myapp-staging") })
		for _, f := range forbidden {
			if strings.Contains(live, f) {
				t.Fatal("the event stream shows a secret")
			}
		}
		if !strings.Contains(live, `"name":"myapp-staging"`) {
			t.Fatalf("the event stream did not carry the change: %q", live)
		}
	}
}

// sse reads the event stream while do changes something, for a few seconds.
func (s *httpSession) sse(t *testing.T, path string, do func()) string {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	resp, err := s.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	go func() {
		time.Sleep(500 * time.Millisecond)
		do()
	}()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body) // until the deadline
	return buf.String()
}

// refresh asks for a refresh as the admin (the viewer may not), so the
// Application's status changes and the stream carries it.
func (s *httpSession) refresh(t *testing.T, name string) {
	c, err := client.New(env.Cluster.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		t.Error(err)
		return
	}
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name}}
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"metadata":{"annotations":{"argocd.argoproj.io/refresh":"hard"}}}`))
	if err := c.Patch(context.Background(), app, patch); err != nil {
		t.Error(err)
	}
}
