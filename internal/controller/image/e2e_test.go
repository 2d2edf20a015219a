package image_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
	"github.com/ferrycd/ferry/internal/controller/controllertest"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/gittest"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

var env controllertest.Env

func TestMain(m *testing.M) {
	os.Exit(controllertest.Run(m, &env))
}

// testRegistry is a real OCI distribution protocol server on loopback.
type testRegistry struct {
	t    *testing.T
	host string
}

func newTestRegistry(t *testing.T) *testRegistry {
	srv := httptest.NewServer(registry.New())
	t.Cleanup(srv.Close)
	return &testRegistry{t: t, host: strings.TrimPrefix(srv.URL, "http://")}
}

// push pushes a random image under each tag.
func (r *testRegistry) push(repo string, tags ...string) {
	r.t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, tag := range tags {
		ref, err := name.NewTag(r.host+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			r.t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			r.t.Fatalf("push %s: %v", ref, err)
		}
	}
}

// applyYAML creates every document of a multi-document YAML stream.
func applyYAML(ctx context.Context, t *testing.T, data []byte) {
	t.Helper()
	for _, u := range localclustertest.Objects(t, data) {
		if err := env.Client.Create(ctx, u); err != nil {
			t.Fatalf("create %s %s: %v", u.GetKind(), u.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), u) })
	}
}

func create(ctx context.Context, t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatalf("create %s: %v", o.GetName(), err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
}

// TestExampleImageAutomation runs the example image automation manifests
// verbatim (only the registry host pointed at a test registry): the policy
// >=1.0.0 picks 1.2.4 among 1.2.3, 1.2.4, 2.0.0-rc.1 and latest; the
// automation commits exactly one changed line with the example's message
// template and pushes it over authenticated smart HTTP; the Application
// tracking the branch deploys 1.2.4. A new tag 1.3.0 makes a second commit.
func TestExampleImageAutomation(t *testing.T) {
	ctx := t.Context()
	reg := newTestRegistry(t)
	reg.push("myapp", "1.2.3", "1.2.4", "2.0.0-rc.1", "latest")

	// The GitOps repository: the example myapp layout under apps/myapp, its
	// image on the test registry, served with credentials.
	work := t.TempDir()
	gittest.Git(t, work, "init", "-q", "-b", "main")
	if err := os.CopyFS(filepath.Join(work, "apps", "myapp"), examples.MyApp()); err != nil {
		t.Fatal(err)
	}
	deployment := filepath.Join(work, "apps", "myapp", "deployment.yaml")
	original, err := os.ReadFile(deployment)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(deployment, bytes.ReplaceAll(original, []byte("registry.example.com"), []byte(reg.host)), 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, work, "add", "-A")
	gittest.Git(t, work, "commit", "-q", "-m", "myapp")
	root := t.TempDir()
	bare := gittest.BareClone(t, work, root, "gitops-repo.git")
	gittest.AllowPush(t, bare)
	const user, password = "flux", "s3cret-push-token"
	srv, _ := gittest.HTTPServer(t, root, user, password)
	repoURL := srv.URL + "/gitops-repo.git"

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}
	if err := env.Client.Create(ctx, ns); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
	create(ctx, t,
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo-auth", Namespace: "flux-system"},
			StringData: map[string]string{"username": user, "password": password}},
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo", Namespace: "flux-system"},
			Spec: sourcev1.GitRepositorySpec{URL: repoURL, SecretRef: &sourcev1.LocalObjectReference{Name: "gitops-repo-auth"},
				Reference: &sourcev1.GitRepositoryRef{Branch: "main"}, Interval: metav1.Duration{Duration: time.Minute}}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo", Namespace: "argocd",
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
			StringData: map[string]string{"url": repoURL, "username": user, "password": password}},
		&v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "myapp-images", Namespace: "argocd"},
			Spec: v1alpha1.ApplicationSpec{Project: "default",
				Source:      &v1alpha1.ApplicationSource{RepoURL: repoURL, TargetRevision: "main", Path: "apps/myapp"},
				Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "images"},
				SyncPolicy: &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true},
					SyncOptions: []string{"CreateNamespace=true"}}}},
	)
	applyYAML(ctx, t, bytes.ReplaceAll(examples.ImageAutomation(), []byte("registry.example.com"), []byte(reg.host)))

	want := reg.host + "/myapp:1.2.4"
	waitPolicy(t, want)
	first := waitPush(t, "")
	checkCommit(t, work, repoURL, user, password, first, "1.2.3", "1.2.4")
	waitDeployed(t, want)

	// A new release: scanned on request, picked, committed, deployed.
	reg.push("myapp", "1.3.0")
	requestScan(ctx, t)
	want = reg.host + "/myapp:1.3.0"
	waitPolicy(t, want)
	second := waitPush(t, first)
	checkCommit(t, work, repoURL, user, password, second, "1.2.4", "1.3.0")
	waitDeployed(t, want)

	// Someone reverts the tag in Git: `ferry image update --dry-run` shows
	// the change the automation would make and pushes nothing; without
	// --dry-run it runs the automation now.
	authURL := strings.Replace(repoURL, "http://", "http://"+user+":"+password+"@", 1)
	gittest.Git(t, work, "reset", "-q", "--hard", second)
	reverted := bytes.ReplaceAll(original, []byte("registry.example.com"), []byte(reg.host))
	if err := os.WriteFile(deployment, reverted, 0o644); err != nil {
		t.Fatal(err)
	}
	gittest.Git(t, work, "commit", "-q", "-am", "revert by hand")
	gittest.Git(t, work, "push", "-q", authURL, "HEAD:main")
	manual := gittest.Git(t, work, "rev-parse", "HEAD")
	out, err := ferry(t, "image", "update", "myapp", "-n", "flux-system", "--dry-run")
	if err != nil || !strings.Contains(out, "-          image: "+reg.host+"/myapp:1.2.3") || !strings.Contains(out, "+          image: "+want) {
		t.Errorf("ferry image update --dry-run: %v\n%s", err, out)
	}
	gittest.Git(t, work, "fetch", "-q", authURL, "main")
	if got := gittest.Git(t, work, "rev-parse", "FETCH_HEAD"); got != manual {
		t.Errorf("a dry run moved main to %s", got)
	}
	out, err = ferry(t, "image", "update", "myapp", "-n", "flux-system")
	if err != nil || !strings.Contains(out, "pushed commit") {
		t.Errorf("ferry image update: %v\n%s", err, out)
	}
	waitPush(t, second)

	if strings.Contains(env.Logs.String(), password) {
		t.Error("the Git password appears in the controller log")
	}
}

func waitPolicy(t *testing.T, want string) {
	t.Helper()
	localclustertest.Eventually(t, time.Minute, "ImagePolicy myapp picks "+want, func(ctx context.Context) (bool, string) {
		p := &imagev1.ImagePolicy{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "myapp"}, p); err != nil {
			return false, err.Error()
		}
		return p.Status.LatestImage == want && p.Status.LatestRef != nil, fmt.Sprintf("%+v", p.Status)
	})
}

// waitPush waits for a push other than previous and returns its commit.
func waitPush(t *testing.T, previous string) string {
	t.Helper()
	var commit string
	localclustertest.Eventually(t, time.Minute, "ImageUpdateAutomation myapp pushes", func(ctx context.Context) (bool, string) {
		a := &imagev1.ImageUpdateAutomation{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "myapp"}, a); err != nil {
			return false, err.Error()
		}
		commit = a.Status.LastPushCommit
		return commit != "" && commit != previous && a.Status.LastPushTime != nil, fmt.Sprintf("%+v", a.Status)
	})
	return commit
}

// checkCommit fetches the pushed commit and checks it changes exactly the
// image line of deployment.yaml, with the example's message template.
func checkCommit(t *testing.T, work, repoURL, user, password, commit, from, to string) {
	t.Helper()
	authURL := strings.Replace(repoURL, "http://", "http://"+user+":"+password+"@", 1)
	gittest.Git(t, work, "fetch", "-q", authURL, "main")
	if got := gittest.Git(t, work, "rev-parse", "FETCH_HEAD"); got != commit {
		t.Fatalf("main is at %s, the automation reports %s", got, commit)
	}
	if stat := gittest.Git(t, work, "diff", "--numstat", commit+"~1", commit); stat != "1\t1\tapps/myapp/deployment.yaml" {
		t.Errorf("commit changes %q, want exactly one line of apps/myapp/deployment.yaml", stat)
	}
	diff := gittest.Git(t, work, "diff", "-U0", commit+"~1", commit)
	if !strings.Contains(diff, "-          image: ") || !strings.HasSuffix(strings.TrimSpace(diff), ":"+to) || !strings.Contains(diff, ":"+from) {
		t.Errorf("diff %s: want the image line from %s to %s", diff, from, to)
	}
	msg := gittest.Git(t, work, "log", "-1", "--format=%B", commit)
	img := gittest.Git(t, work, "show", commit+":apps/myapp/deployment.yaml")
	image := img[strings.Index(img, "image: ")+len("image: "):]
	image = image[:strings.Index(image, "\n")]
	wantMsg := "Update flux-system/myapp images\n\nAutomation: flux-system/myapp\nImages: " + image
	if strings.TrimSpace(msg) != wantMsg {
		t.Errorf("commit message:\n%s\nwant:\n%s", msg, wantMsg)
	}
	if author := gittest.Git(t, work, "log", "-1", "--format=%an <%ae>", commit); author != "Flux Automation <flux@example.com>" {
		t.Errorf("author %q", author)
	}
}

func waitDeployed(t *testing.T, image string) {
	t.Helper()
	localclustertest.Eventually(t, time.Minute, "Deployment images/myapp runs "+image, func(ctx context.Context) (bool, string) {
		d := &unstructured.Unstructured{}
		d.SetAPIVersion("apps/v1")
		d.SetKind("Deployment")
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "images", Name: "myapp"}, d); err != nil {
			return false, err.Error()
		}
		containers, _, _ := unstructured.NestedSlice(d.Object, "spec", "template", "spec", "containers")
		got, _ := containers[0].(map[string]any)["image"].(string)
		return got == image, "image " + got
	})
}

// requestScan asks for a scan now, as `ferry image scan` does.
func requestScan(ctx context.Context, t *testing.T) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`))
	repo := &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "myapp"}}
	if err := env.Client.Patch(ctx, repo, patch); err != nil {
		t.Fatal(err)
	}
}
