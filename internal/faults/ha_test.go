package faults_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/gittest"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// TestHAOneGenerationOnePush: two replicas as installed (--replicas 2:
// sharded, leader election on). The leader alone generates ApplicationSets
// and runs image automation, so an event makes one generation and one
// commit; the leader is killed, the other replica leads, and the next
// events again make one generation and one commit each.
func TestHAOneGenerationOnePush(t *testing.T) {
	// Most of it is waiting out a Lease: run beside the other Lease tests.
	t.Parallel()
	c := localclustertest.Start(t, localcluster.Options{})
	cl := newClient(t, c)
	ctx := t.Context()

	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	host := strings.TrimPrefix(reg.URL, "http://")
	pushImage(t, host, "myapp", "1.2.3", "1.2.4")
	repoURL, work := imageRepo(t, host)

	a := startReplica(t, c, "replica-a", "--replicas", "2", "--shard-identity", "replica-a")
	b := startReplica(t, c, "replica-b", "--replicas", "2", "--shard-identity", "replica-b")
	leader, standby := waitLeader(t, a, b)

	createAll(ctx, t, cl,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo-auth", Namespace: "flux-system"},
			StringData: map[string]string{"username": gitUser, "password": gitPassword}},
		&sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Name: "gitops-repo", Namespace: "flux-system"},
			Spec: sourcev1.GitRepositorySpec{URL: repoURL, SecretRef: &sourcev1.LocalObjectReference{Name: "gitops-repo-auth"},
				Reference: &sourcev1.GitRepositoryRef{Branch: "main"}, Interval: metav1.Duration{Duration: time.Minute}}},
		listAppSet("envs", "dev", "staging"),
	)
	createYAML(ctx, t, cl, bytes.ReplaceAll(examples.ImageAutomation(), []byte("registry.example.com"), []byte(host)))

	waitApps(t, cl, "envs-dev", "envs-staging")
	first := waitAutomationPush(t, cl, "")
	oneMoreCommit(t, work, repoURL, 1)

	for _, r := range []*replica{a, b} {
		n, _ := r.metric(ctx, "controller_runtime_reconcile_total", map[string]string{"controller": "applicationset"})
		pushes, _ := r.metric(ctx, "ferry_image_pushes_total", nil)
		if r == standby && (n != 0 || pushes != 0) {
			t.Errorf("the standby %s reconciled %v ApplicationSets and pushed %v commits", r.name, n, pushes)
		}
		if r == leader && (n == 0 || pushes != 1) {
			t.Errorf("the leader %s reconciled %v ApplicationSets and pushed %v commits, want some and 1", r.name, n, pushes)
		}
	}

	killed := time.Now()
	leader.kill(syscall.SIGKILL)
	localclustertest.Eventually(t, 2*time.Minute, standby.name+" leading", func(ctx context.Context) (bool, string) {
		return standby.leading(ctx), "not yet"
	})
	t.Logf("%s leads %.1fs after %s was killed (lease 15s, retry 1s)", standby.name, time.Since(killed).Seconds(), leader.name)

	// The next events, on the new leader: an element added, a release.
	as := &v1alpha1.ApplicationSet{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "envs"}, as); err != nil {
		t.Fatal(err)
	}
	as.Spec = listAppSet("envs", "dev", "staging", "prod").Spec
	if err := cl.Update(ctx, as); err != nil {
		t.Fatal(err)
	}
	pushImage(t, host, "myapp", "1.3.0")
	requestImageScan(ctx, t, cl)
	waitApps(t, cl, "envs-dev", "envs-staging", "envs-prod")
	waitAutomationPush(t, cl, first)
	oneMoreCommit(t, work, repoURL, 2)
	if pushes, _ := standby.metric(ctx, "ferry_image_pushes_total", nil); pushes != 1 {
		t.Errorf("the new leader %s pushed %v commits for one release, want 1", standby.name, pushes)
	}
	standby.noPanic(t)
}

const gitUser, gitPassword = "flux", "s3cret-push-token"

// imageRepo is the example myapp layout under apps/myapp, its image on the
// test registry, served over smart HTTP with credentials: the URL and a
// work tree to fetch into.
func imageRepo(t *testing.T, host string) (string, string) {
	t.Helper()
	r := newGitRepo(t)
	if err := os.CopyFS(filepath.Join(r.dir, "apps", "myapp"), examples.MyApp()); err != nil {
		t.Fatal(err)
	}
	deployment := filepath.Join(r.dir, "apps", "myapp", "deployment.yaml")
	b, err := os.ReadFile(deployment)
	if err != nil {
		t.Fatal(err)
	}
	r.commit("myapp", map[string]string{"apps/myapp/deployment.yaml": strings.ReplaceAll(string(b), "registry.example.com", host)})
	root := t.TempDir()
	bare := gittest.BareClone(t, r.dir, root, "gitops-repo.git")
	gittest.AllowPush(t, bare)
	srv, _ := gittest.HTTPServer(t, root, gitUser, gitPassword)
	return srv.URL + "/gitops-repo.git", r.dir
}

// oneMoreCommit checks that main has exactly want commits more than the
// first: one per image event, none twice.
func oneMoreCommit(t *testing.T, work, repoURL string, want int) {
	t.Helper()
	r := &gitRepo{t: t, dir: work}
	authURL := strings.Replace(repoURL, "http://", "http://"+gitUser+":"+gitPassword+"@", 1)
	r.git("fetch", "-q", authURL, "main")
	if n := r.git("rev-list", "--count", "HEAD..FETCH_HEAD"); n != fmt.Sprint(want) {
		t.Errorf("main has %s commits by the automation, want %d:\n%s", n, want, r.git("log", "--format=%h %s", "HEAD..FETCH_HEAD"))
	}
}

func pushImage(t *testing.T, host, repo string, tags ...string) {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range tags {
		ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(ref, img); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
	}
}

// listAppSet generates one Application per element (never synced: its
// repository does not exist; generating is what is counted).
func listAppSet(name string, elements ...string) *v1alpha1.ApplicationSet {
	raw := make([]string, len(elements))
	for i, e := range elements {
		raw[i] = fmt.Sprintf(`{"env":%q}`, e)
	}
	var as v1alpha1.ApplicationSet
	doc := fmt.Sprintf(`
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: %s, namespace: argocd}
spec:
  generators:
  - list: {elements: [%s]}
  template:
    metadata: {name: '%s-{{env}}'}
    spec:
      project: default
      source: {repoURL: 'https://git.example.invalid/none.git', targetRevision: main, path: '{{env}}'}
      destination: {server: 'https://kubernetes.default.svc', namespace: '{{env}}'}
`, name, strings.Join(raw, ","), name)
	if err := yaml.UnmarshalStrict([]byte(doc), &as); err != nil {
		panic(err)
	}
	return &as
}

func waitApps(t *testing.T, cl client.Client, names ...string) {
	t.Helper()
	localclustertest.Eventually(t, 2*time.Minute, "Applications "+strings.Join(names, ", "), func(ctx context.Context) (bool, string) {
		for _, n := range names {
			app := &v1alpha1.Application{}
			if err := cl.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: n}, app); err != nil {
				return false, err.Error()
			}
		}
		return true, ""
	})
}

func waitAutomationPush(t *testing.T, cl client.Client, previous string) string {
	t.Helper()
	var commit string
	localclustertest.Eventually(t, 2*time.Minute, "ImageUpdateAutomation myapp pushes", func(ctx context.Context) (bool, string) {
		a := &imagev1.ImageUpdateAutomation{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "flux-system", Name: "myapp"}, a); err != nil {
			return false, err.Error()
		}
		commit = a.Status.LastPushCommit
		return commit != "" && commit != previous, fmt.Sprintf("%+v", a.Status)
	})
	return commit
}

func requestImageScan(ctx context.Context, t *testing.T, cl client.Client) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`))
	repo := &imagev1.ImageRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "myapp"}}
	if err := cl.Patch(ctx, repo, patch); err != nil {
		t.Fatal(err)
	}
}

func createAll(ctx context.Context, t *testing.T, cl client.Client, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		localclustertest.Eventually(t, 2*time.Minute, "create "+o.GetName()+" (the controller installs its CRDs)", func(ctx context.Context) (bool, string) {
			err := cl.Create(ctx, o)
			return err == nil, fmt.Sprint(err)
		})
	}
}

// createYAML creates every document of a multi-document YAML stream.
func createYAML(ctx context.Context, t *testing.T, cl client.Client, data []byte) {
	t.Helper()
	for _, u := range localclustertest.Objects(t, data) {
		createAll(ctx, t, cl, u)
	}
}
