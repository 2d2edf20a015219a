package install_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/gittest"
	"github.com/ferrycd/ferry/internal/install"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	localclustertest.RemoveFerryBinary()
	os.Exit(code)
}

// exampleRepoURL is the repository the examples name; the test serves its
// own in its place.
const exampleRepoURL = "https://github.com/myorg/gitops-repo.git"

// narrowedDeploy is ferry-deploy narrowed as docs/install.md describes,
// to what the examples deploy: Namespaces (CreateNamespace=true),
// ConfigMaps, Services and Deployments.
var narrowedDeploy = []rbacv1.PolicyRule{
	{APIGroups: []string{""}, Resources: []string{"namespaces", "configmaps", "services"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
	{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list", "watch", "create", "patch", "delete"}},
}

// TestInstalledIdentity installs Ferry with `ferry install` and runs the
// controller as a process that authenticates as the installed
// ServiceAccount (a TokenRequest token), with the installed Deployment's
// own flags. kwok runs no container, so this is how the shipped RBAC meets
// the real authorizer: the example Applications sync (one automated, one
// by `ferry app sync`), the example ApplicationSet generates an
// Application that syncs, and the example image automation commits.
//
// ferry-deploy, the ClusterRole for what Git holds (every verb on every
// resource), is narrowed first to what the examples deploy, as
// docs/install.md describes: what passes is then owed to ferry-controller
// and the Role, the rules Ferry needs for itself. RBAC only adds rights,
// so the install as shipped, a superset, passes too. A verb missing from
// them fails the test; the sub-test shows one.
func TestInstalledIdentity(t *testing.T) {
	bin := localclustertest.FerryBinary(t)
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull})
	ctx := t.Context()
	cfg := c.AdminConfig()
	cfg.WarningHandlerWithContext = rest.NoWarnings{} // the finalizer's name is Argo CD's, not ours to change
	admin, err := client.New(cfg, client.Options{Scheme: api.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ns := install.DefaultNamespace
	user := []string{"--kubeconfig", c.KubeconfigPath(), "--context", localcluster.UserContext}

	// Before the install: the user may install, nothing of Ferry is there.
	out, err := run(t, bin, append([]string{"check"}, user...)...)
	if err != nil || !strings.Contains(out, "Ferry installed") {
		t.Fatalf("ferry check before the install: %v\n%s", err, out)
	}
	start := time.Now()
	out, err = run(t, bin, append([]string{"install", "--image", "ferry:v0.0.0-test", "--timeout", "2m"}, user...)...)
	if err != nil || !strings.Contains(out, "rolled out") {
		t.Fatalf("ferry install: %v\n%s", err, out)
	}
	t.Logf("ferry install: applied and rolled out (kwok's pods) in %.1fs", time.Since(start).Seconds())
	out, err = run(t, bin, append([]string{"install", "--image", "ferry:v0.0.0-test", "--wait=false"}, user...)...)
	if err != nil || strings.Contains(out, " created") || strings.Contains(out, " configured") {
		t.Errorf("ferry install again changed something: %v\n%s", err, out)
	}
	out, err = run(t, bin, append([]string{"check"}, user...)...)
	if err != nil || strings.Contains(out, "FAIL") || !strings.Contains(out, "Deployment "+ns+"/"+install.Name) {
		t.Errorf("ferry check after the install: %v\n%s", err, out)
	}

	dep := &appsv1.Deployment{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: install.Name}, dep); err != nil {
		t.Fatal(err)
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != "ferry:v0.0.0-test" {
		t.Errorf("installed image %q, want the one --image named", img)
	}
	checkRestricted(t, admin, dep)

	setRules(t, admin, "ferry-deploy", func([]rbacv1.PolicyRule) []rbacv1.PolicyRule { return narrowedDeploy })
	kubeconfig := serviceAccountKubeconfig(t, c, ns)
	// The controller's identity may not install Ferry: ferry check says so.
	out, err = run(t, bin, "check", "--kubeconfig", kubeconfig)
	if row := grep(out, "access: customresourcedefinitions"); err == nil || !strings.Contains(row, "FAIL") || !strings.Contains(row, "cannot get, create, patch") {
		t.Errorf("ferry check as the controller's ServiceAccount: %v\n%s", err, out)
	}
	seed := startSeed(t, admin, ns)

	ctrl := startController(t, bin, kubeconfig, dep)
	// main moves when the image automation pushes: an Application
	// following it may be at either commit.
	staging := func() []string { return []string{seed.head("staging")} }
	main := func() []string { return []string{seed.mainAtStart, seed.head("main")} }
	waitSynced(t, admin, ns, "myapp-staging", staging)
	out, err = run(t, bin, append([]string{"app", "sync", "myapp-production", "--timeout", "2m"}, user...)...)
	if err != nil {
		t.Errorf("ferry app sync myapp-production: %v\n%s", err, out)
	}
	waitSynced(t, admin, ns, "myapp-production", main)
	waitSynced(t, admin, ns, "myapp-in-cluster", main)
	waitConfigMap(t, admin, "myapp", "myapp-config")
	pushed := waitPush(t, admin)
	if got := seed.head("main"); got != pushed {
		t.Errorf("main is at %s, the automation reports pushing %s", got, pushed)
	}
	if strings.Contains(ctrl.logs(), "forbidden") {
		t.Errorf("the controller was refused something:\n%s", grep(ctrl.logs(), "forbidden"))
	}

	t.Run("a missing verb fails", func(t *testing.T) {
		ctrl.stop()
		// ferry-controller without patch on applications/status.
		setRules(t, admin, "ferry-controller", func(rules []rbacv1.PolicyRule) []rbacv1.PolicyRule {
			for i, r := range rules {
				rules[i].Resources = slices.DeleteFunc(slices.Clone(r.Resources), func(res string) bool { return res == "applications/status" })
			}
			return rules
		})
		app := newApp(ns, "missing-verb", seed.url, "staging", "apps/staging/myapp", "missing-verb")
		if err := admin.Create(ctx, app); err != nil {
			t.Fatal(err)
		}
		refused := startController(t, bin, kubeconfig, dep)
		// The log is JSON: the API server's quotes are escaped.
		const want = `cannot patch resource \"applications/status\"`
		localclustertest.Eventually(t, time.Minute, "the controller's log: "+want, func(context.Context) (bool, string) {
			return strings.Contains(refused.logs(), want), "not yet"
		})
		got := &v1alpha1.Application{}
		if err := admin.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			t.Fatal(err)
		}
		if got.Status.Sync.Status != "" {
			t.Errorf("the Application has a sync status (%s) the controller may not write", got.Status.Sync.Status)
		}
		refused.stop()
	})

	t.Run("uninstall", func(t *testing.T) {
		ctrl.stop()
		// A controller outside the Deployment still renews its Lease:
		// uninstall stops before it could act on the deletions.
		started := metav1.NowMicro()
		elsewhere := startController(t, bin, kubeconfig, dep)
		localclustertest.Eventually(t, time.Minute, "the controller renewing Lease "+ns+"/ferry-controller", func(ctx context.Context) (bool, string) {
			l := &coordinationv1.Lease{}
			if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "ferry-controller"}, l); err != nil {
				return false, err.Error()
			}
			return ptr.Deref(l.Spec.HolderIdentity, "") != "" && l.Spec.RenewTime != nil && l.Spec.RenewTime.After(started.Time),
				fmt.Sprintf("held by %q, renewed %v", ptr.Deref(l.Spec.HolderIdentity, ""), l.Spec.RenewTime)
		})
		out, err := run(t, bin, append([]string{"uninstall", "--yes", "--timeout", "2m"}, user...)...)
		if err == nil || !strings.Contains(out, "still renewed") {
			t.Fatalf("ferry uninstall with a controller running: %v\n%s", err, out)
		}
		elsewhere.stop()

		// A finalizer asking for cascading deletion, which uninstall must
		// release without deleting anything.
		app := &v1alpha1.Application{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: ns, Name: "myapp-staging"}, app); err != nil {
			t.Fatal(err)
		}
		app.Finalizers = append(app.Finalizers, "resources-finalizer.argocd.argoproj.io")
		if err := admin.Update(ctx, app); err != nil {
			t.Fatal(err)
		}
		out, err = run(t, bin, append([]string{"uninstall", "--yes", "--timeout", "2m"}, user...)...)
		if err != nil {
			t.Fatalf("ferry uninstall again, the controller stopped: %v\n%s", err, out)
		}
		for _, want := range []string{"Application " + ns + "/myapp-staging", "Namespace " + ns + " kept", "Secret gitops-repo", "left in place"} {
			if !strings.Contains(out, want) {
				t.Errorf("ferry uninstall does not say %q:\n%s", want, out)
			}
		}
		for _, d := range []client.ObjectKey{{Namespace: "staging", Name: "myapp"}, {Namespace: "production", Name: "myapp"}, {Namespace: "myapp", Name: "myapp"}} {
			if err := admin.Get(ctx, d, &appsv1.Deployment{}); err != nil {
				t.Errorf("Deployment %s after the uninstall: %v", d, err)
			}
		}
		for _, o := range []client.Object{
			&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: install.Name}},
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "ferry-deploy"}},
		} {
			if err := admin.Get(ctx, client.ObjectKeyFromObject(o), o); !apierrors.IsNotFound(err) {
				t.Errorf("%T %s after the uninstall: %v", o, o.GetName(), err)
			}
		}
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		if err := admin.Get(ctx, client.ObjectKey{Name: "applications.argoproj.io"}, crd); !apierrors.IsNotFound(err) {
			t.Errorf("the Application CRD after the uninstall: %v", err)
		}
	})
}

// checkRestricted admits the Deployment's pod in a namespace that enforces
// Pod Security's restricted level (a server-side dry run): the admission
// plugin, not the test, judges.
func checkRestricted(t *testing.T, c client.Client, dep *appsv1.Deployment) {
	t.Helper()
	ctx := t.Context()
	restricted := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "restricted", Labels: map[string]string{
		"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}}}
	if err := c.Create(ctx, restricted); err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: dep.Spec.Template.Spec.ServiceAccountName, Namespace: restricted.Name}}
	if err := c.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "ferry", Namespace: restricted.Name}, Spec: *dep.Spec.Template.Spec.DeepCopy()}
	if err := c.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Errorf("the controller's pod is refused where restricted is enforced: %v", err)
	}
}

// setRules replaces the rules of a ClusterRole.
func setRules(t *testing.T, c client.Client, name string, edit func([]rbacv1.PolicyRule) []rbacv1.PolicyRule) {
	t.Helper()
	role := &rbacv1.ClusterRole{}
	if err := c.Get(t.Context(), client.ObjectKey{Name: name}, role); err != nil {
		t.Fatal(err)
	}
	role.Rules = edit(role.Rules)
	if err := c.Update(t.Context(), role); err != nil {
		t.Fatalf("update ClusterRole %s: %v", name, err)
	}
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// installed ServiceAccount, with a token from the TokenRequest API, and
// nothing else (no client certificate).
func serviceAccountKubeconfig(t *testing.T, c *localcluster.Cluster, ns string) string {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), install.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for ServiceAccount %s/%s: %v", ns, install.Name, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: c.Server(), CertificateAuthorityData: c.AdminConfig().CAData}
	cfg.AuthInfos["sa"] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["sa"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "sa"}
	cfg.CurrentContext = "sa"
	path := filepath.Join(t.TempDir(), "serviceaccount.kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// controllerProc is a `ferry controller` process.
type controllerProc struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	once sync.Once
}

// startController runs `ferry controller` with the container's arguments
// of dep, as the kubelet would pass them ($(VAR) expanded from the pod's
// environment), only the listen addresses moved to free loopback ports and
// the cache to a temporary directory; the test's cleanup stops it.
func startController(t *testing.T, bin, kubeconfig string, dep *appsv1.Deployment) *controllerProc {
	t.Helper()
	container := dep.Spec.Template.Spec.Containers[0]
	dir := t.TempDir()
	env := map[string]string{"POD_NAME": "ferry-controller-test", "POD_NAMESPACE": dep.Namespace}
	replace := map[string]string{
		"--metrics-bind-address":      "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"--health-probe-bind-address": "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"--webhook-bind-address":      "127.0.0.1:" + strconv.Itoa(freePort(t)),
		"--cache-dir":                 filepath.Join(dir, "cache"),
	}
	var args []string
	for _, a := range container.Args {
		for k, v := range env {
			a = strings.ReplaceAll(a, "$("+k+")", v)
		}
		if strings.Contains(a, "$(") {
			t.Fatalf("argument %q names a variable the pod does not set", a)
		}
		flag, _, _ := strings.Cut(a, "=")
		if v, ok := replace[flag]; ok {
			a = flag + "=" + v
		}
		args = append(args, a)
	}
	args = append(args, "--kubeconfig", kubeconfig)
	p := &controllerProc{log: filepath.Join(dir, "controller.log"), done: make(chan struct{})}
	logFile, err := os.Create(p.log)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.Env = append(os.Environ(), "POD_NAME="+env["POD_NAME"], "POD_NAMESPACE="+env["POD_NAMESPACE"], "KUBECONFIG=")
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start ferry %s: %v", strings.Join(args, " "), err)
	}
	t.Logf("ferry %s", strings.Join(args, " "))
	go func() { _ = p.cmd.Wait(); logFile.Close(); close(p.done) }()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- controller log (last 6 KiB) ---\n%s", tail(p.logs(), 6<<10))
		}
	})
	return p
}

// stop ends the process (SIGTERM, SIGKILL after 10 s) and waits for it.
func (p *controllerProc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
}

func (p *controllerProc) logs() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// seed is the examples' world: their repository served over smart HTTP
// with credentials, their registry on loopback.
type seed struct {
	t           *testing.T
	bare        string
	url         string
	mainAtStart string
}

func (s *seed) head(branch string) string {
	return gittest.Git(s.t, s.bare, "rev-parse", branch)
}

// startSeed lays out the example repository (apps/{staging,production}/myapp
// on branches main and staging), serves it, and creates the examples
// verbatim but for the repository URL and registry host: the two
// Applications, the ApplicationSet (over an in-cluster cluster Secret
// labelled environment=production, region=staging) and the image
// automation, with the Secrets they need in the install's namespace.
func startSeed(t *testing.T, c client.Client, ns string) *seed {
	t.Helper()
	regSrv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(regSrv.Close)
	regHost := strings.TrimPrefix(regSrv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"1.2.3", "1.2.4"} {
		ref, err := name.NewTag(regHost+"/myapp:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
	host := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("registry.example.com"), []byte(regHost)) }

	work := t.TempDir()
	gittest.Git(t, work, "init", "-q", "-b", "main")
	for _, env := range []string{"staging", "production"} {
		dir := filepath.Join(work, "apps", env, "myapp")
		if err := os.CopyFS(dir, examples.MyApp()); err != nil {
			t.Fatal(err)
		}
		d := filepath.Join(dir, "deployment.yaml")
		data, err := os.ReadFile(d)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(d, host(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gittest.Git(t, work, "add", "-A")
	gittest.Git(t, work, "commit", "-q", "-m", "myapp")
	gittest.Git(t, work, "branch", "staging")
	root := t.TempDir()
	bare := gittest.BareClone(t, work, root, "gitops-repo.git")
	gittest.AllowPush(t, bare)
	const user, password = "ferry", "s3cret-token"
	srv, _ := gittest.HTTPServer(t, root, user, password)
	s := &seed{t: t, bare: bare, url: srv.URL + "/gitops-repo.git"}
	s.mainAtStart = s.head("main")

	create(t, c,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo", Namespace: ns, Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
			StringData: map[string]string{"url": s.url, "username": user, "password": password}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "in-cluster", Namespace: ns, Labels: map[string]string{
			"argocd.argoproj.io/secret-type": "cluster", "environment": "production", "region": "staging"}},
			StringData: map[string]string{"name": "in-cluster", "server": "https://kubernetes.default.svc", "config": "{}"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "myapp"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo-auth", Namespace: "flux-system"},
			StringData: map[string]string{"username": user, "password": password}},
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo", Namespace: "flux-system"},
			Spec: sourcev1.GitRepositorySpec{URL: s.url, SecretRef: &sourcev1.LocalObjectReference{Name: "gitops-repo-auth"},
				Reference: &sourcev1.GitRepositoryRef{Branch: "main"}, Interval: metav1.Duration{Duration: time.Minute}}},
	)
	repo := func(b []byte) []byte { return bytes.ReplaceAll(b, []byte(exampleRepoURL), []byte(s.url)) }
	docs, err := examples.ApplicationDocuments()
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range append(docs, examples.ApplicationSet(), examples.ImageAutomation()) {
		createYAML(t, c, host(repo(doc)))
	}
	return s
}

func newApp(ns, name, repoURL, revision, path, destNS string) *v1alpha1.Application {
	return &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.ApplicationSpec{Project: "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: revision, Path: path},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: destNS},
			SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}, SyncOptions: []string{"CreateNamespace=true"}}}}
}

func create(t *testing.T, c client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(t.Context(), o); err != nil {
			t.Fatalf("create %T %s: %v", o, o.GetName(), err)
		}
	}
}

// createYAML creates every document of a YAML stream.
func createYAML(t *testing.T, c client.Client, data []byte) {
	t.Helper()
	for _, u := range localclustertest.Objects(t, data) {
		if err := c.Create(t.Context(), u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// waitSynced waits until the Application is Synced at one of the
// revisions (read again at every look).
func waitSynced(t *testing.T, c client.Client, ns, name string, revisions func() []string) {
	t.Helper()
	localclustertest.Eventually(t, 2*time.Minute, "Application "+name+" Synced", func(ctx context.Context) (bool, string) {
		app := &v1alpha1.Application{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, app); err != nil {
			return false, err.Error()
		}
		want := revisions()
		return app.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced && slices.Contains(want, app.Status.Sync.Revision),
			fmt.Sprintf("%s at %s (want one of %q); conditions %+v", app.Status.Sync.Status, app.Status.Sync.Revision, want, app.Status.Conditions)
	})
}

func waitConfigMap(t *testing.T, c client.Client, ns, name string) {
	t.Helper()
	localclustertest.Eventually(t, time.Minute, "ConfigMap "+ns+"/"+name, func(ctx context.Context) (bool, string) {
		err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &corev1.ConfigMap{})
		return err == nil, fmt.Sprint(err)
	})
}

// waitPush waits until the example automation reports a pushed commit.
func waitPush(t *testing.T, c client.Client) string {
	t.Helper()
	var commit string
	localclustertest.Eventually(t, 2*time.Minute, "ImageUpdateAutomation flux-system/myapp pushes", func(ctx context.Context) (bool, string) {
		a := &imagev1.ImageUpdateAutomation{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "myapp"}, a); err != nil {
			return false, err.Error()
		}
		commit = a.Status.LastPushCommit
		return commit != "", fmt.Sprintf("%+v", a.Status)
	})
	return commit
}

// run runs the ferry binary with no kubeconfig from the environment and
// returns its combined output.
func run(t *testing.T, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// grep returns the lines of s that contain substr.
func grep(s, substr string) string {
	var out []string
	for line := range strings.Lines(s) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
