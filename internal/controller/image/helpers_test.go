package image_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/cli"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

func createNamespace(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("Namespace")
	u.SetName(name)
	if err := env.Client.Create(ctx, u); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

func policyPicks(t *testing.T, ns, name, want string) {
	t.Helper()
	localclustertest.Eventually(t, time.Minute, "ImagePolicy "+name+" picks "+want, func(ctx context.Context) (bool, string) {
		p := &imagev1.ImagePolicy{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
			return false, err.Error()
		}
		return p.Status.LatestImage == want, fmt.Sprintf("%+v", p.Status)
	})
}

func requestReconcile(ctx context.Context, t *testing.T, obj client.Object) {
	t.Helper()
	patch := client.RawPatch("application/merge-patch+json",
		[]byte(`{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"`+time.Now().Format(time.RFC3339Nano)+`"}}}`))
	if err := env.Client.Patch(ctx, obj, patch); err != nil {
		t.Fatal(err)
	}
}

func ferry(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCmd(cli.IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.SetArgs(append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}
