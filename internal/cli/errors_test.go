package cli

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// run runs the CLI in-process with exactly args (no kubeconfig added).
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := NewRootCmd(IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

func wantError(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one saying %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not say %q", err, p)
		}
	}
}

// TestErrorNoKubeconfig: with no kubeconfig anywhere, a cluster command says
// how to give one, or how to start a local cluster, instead of client-go's
// "try setting KUBERNETES_MASTER".
func TestErrorNoKubeconfig(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	_, err := run(t, "app", "list")
	wantError(t, err, "--kubeconfig", "KUBECONFIG", "ferry local start")
	if err != nil && strings.Contains(err.Error(), "KUBERNETES_MASTER") {
		t.Errorf("error %q still speaks of KUBERNETES_MASTER", err)
	}
}

// TestErrorClusterUnreachable: a kubeconfig whose server does not answer
// gives an error naming the server and the context.
func TestErrorClusterUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + l.Addr().String()
	l.Close() // nothing listens there now
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: gone, cluster: {server: %q, insecure-skip-tls-verify: true}}]
users: [{name: someone, user: {token: t}}]
contexts: [{name: staging-eu, context: {cluster: gone, user: someone}}]
current-context: staging-eu
`, server)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, "app", "get", "web", "--kubeconfig", kubeconfig)
	wantError(t, err, "cannot reach the Kubernetes API server "+server, `context "staging-eu"`, "--context")
}

// TestErrorCRDsMissing: on a cluster where Ferry's CRDs were never
// installed, the error says that `ferry controller` installs them.
func TestErrorCRDsMissing(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	_, err := run(t, "app", "list", "--kubeconfig", c.KubeconfigPath(), "--context", localcluster.UserContext)
	wantError(t, err, "not installed", "ferry controller")
}

// TestErrorApplicationNotFound: an Application that is not in the namespace
// asked is looked for in the others: the error names the namespace where
// one of that name is, or says how to list every namespace.
func TestErrorApplicationNotFound(t *testing.T) {
	ctx := t.Context()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName("team-errors")
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, ns) })
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "team-errors"},
		Spec: v1alpha1.ApplicationSpec{Project: "default", Source: &v1alpha1.ApplicationSource{RepoURL: "https://git.example.com/x", Path: "."},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "default"}}}
	if err := env.Client.Create(ctx, app); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(ctx, app) })

	_, err := ferry(t, "app", "get", "elsewhere")
	wantError(t, err, `application "elsewhere" not found in namespace "argocd"`, `namespace "team-errors"`, "-n team-errors")
	_, err = ferry(t, "app", "history", "nowhere")
	wantError(t, err, `application "nowhere" not found in namespace "argocd"`, "ferry app list -A")
}
