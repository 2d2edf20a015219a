package application_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cli"
	"github.com/ferrycd/ferry/internal/examples"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// ferryCLI runs the ferry command against the test control plane.
func ferryCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd := cli.NewRootCmd(cli.IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.SetArgs(append(args, "--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext))
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// regionFiles are a region's manifests: its namespace and a ConfigMap
// naming the region.
func regionFiles(region string) map[string]string {
	dir := "apps/" + region + "/myapp/"
	return map[string]string{
		dir + "namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: myapp}\n",
		dir + "region.yaml":    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: region}\ndata: {region: " + region + "}\n",
	}
}

// TestExampleApplicationSetAcrossClusters: two control planes registered with
// `ferry cluster add` and the example's labels; the example ApplicationSet
// verbatim (repoURL pointed at a test repository) makes two Applications,
// each deploying its region's manifests to its own cluster. Labelling a
// third cluster production adds an Application; removing the label removes
// it, and what it deployed stays.
func TestExampleApplicationSetAcrossClusters(t *testing.T) {
	ctx := t.Context()
	east := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1})
	west := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeFull, Nodes: 1})
	third := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	for _, c := range []struct {
		cluster *localcluster.Cluster
		name    string
		labels  []string
	}{
		{east, "prod-us-east", []string{"environment=production", "region=us-east"}},
		{west, "prod-eu-west", []string{"environment=production", "region=eu-west"}},
	} {
		args := []string{"cluster", "add", localcluster.AdminContext, "--target-kubeconfig", c.cluster.KubeconfigPath(), "--name", c.name}
		for _, l := range c.labels {
			args = append(args, "--label", l)
		}
		if out, err := ferryCLI(t, args...); err != nil {
			t.Fatalf("ferry cluster add %s: %v\n%s", c.name, err, out)
		}
		name := c.name
		t.Cleanup(func() { _, _ = ferryCLI(t, "cluster", "rm", name, "--force") })
	}
	// The third cluster has no token controller (no controller manager):
	// registered with its client certificate instead.
	cfg := third.AdminConfig()
	register(ctx, t, "staging-ap", cfg, map[string]string{"environment": "staging", "region": "ap-south"})

	repo := newGitRepo(t)
	files := map[string]string{}
	for _, region := range []string{"us-east", "eu-west", "ap-south"} {
		for k, v := range regionFiles(region) {
			files[k] = v
		}
	}
	repo.write(files)
	repo.commit("three regions")
	manifest := strings.Replace(string(examples.ApplicationSet()), "https://github.com/myorg/gitops-repo.git", repo.url(), 1)
	as := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &as.Object); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, as); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), as) })

	regionOn := func(c *localcluster.Cluster) func(ctx context.Context) (string, bool) {
		cl, err := client.New(c.AdminConfig(), client.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return func(ctx context.Context) (string, bool) {
			cm := &corev1.ConfigMap{}
			if err := cl.Get(ctx, client.ObjectKey{Namespace: "myapp", Name: "region"}, cm); err != nil {
				return "", false
			}
			return cm.Data["region"], true
		}
	}
	for _, w := range []struct {
		cluster *localcluster.Cluster
		region  string
	}{{east, "us-east"}, {west, "eu-west"}} {
		read := regionOn(w.cluster)
		eventually(t, 90*time.Second, "region "+w.region+" deployed to its cluster", func(ctx context.Context) (bool, string) {
			got, ok := read(ctx)
			return ok && got == w.region, fmt.Sprintf("region %q (exists %v)", got, ok)
		})
	}
	readThird := regionOn(third)
	if _, ok := readThird(ctx); ok {
		t.Error("the staging cluster got the production manifests")
	}

	// Label the third cluster production: a third Application deploys there.
	relabel := func(environment string) {
		t.Helper()
		s := &corev1.Secret{}
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "cluster-staging-ap"}, s); err != nil {
			t.Fatal(err)
		}
		s.Labels["environment"] = environment
		if err := env.Client.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	relabel("production")
	eventually(t, 90*time.Second, "the third cluster gets its Application", func(ctx context.Context) (bool, string) {
		got, ok := readThird(ctx)
		return ok && got == "ap-south", fmt.Sprintf("region %q (exists %v)", got, ok)
	})
	relabel("staging")
	eventually(t, 60*time.Second, "the third Application removed", func(ctx context.Context) (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "myapp-staging-ap"}, &v1alpha1.Application{})
		return err != nil, fmt.Sprintf("get: %v", err)
	})
	if got, ok := readThird(ctx); !ok || got != "ap-south" {
		t.Errorf("the removed Application's resources are gone from the third cluster (region %q, exists %v); without a cascading finalizer they stay", got, ok)
	}

	// With a cascading finalizer in the template, preserveResourcesOnDeletion
	// still keeps what a removed Application deployed: the finalizer is not
	// put on generated Applications at all (so deleting the ApplicationSet
	// keeps them too).
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"syncPolicy":{"preserveResourcesOnDeletion":true},`+
		`"template":{"metadata":{"finalizers":["resources-finalizer.argocd.argoproj.io"]}}}}`))
	if err := env.Client.Patch(ctx, as, patch); err != nil {
		t.Fatal(err)
	}
	relabel("production")
	eventually(t, 60*time.Second, "the third Application back, without the cascading finalizer", func(ctx context.Context) (bool, string) {
		app := &v1alpha1.Application{}
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "myapp-staging-ap"}, app)
		return err == nil && len(app.Finalizers) == 0 && app.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced,
			fmt.Sprintf("get: %v, finalizers %v, sync %s", err, app.Finalizers, app.Status.Sync.Status)
	})
	relabel("staging")
	eventually(t, 60*time.Second, "the third Application removed again", func(ctx context.Context) (bool, string) {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "myapp-staging-ap"}, &v1alpha1.Application{})
		return err != nil, fmt.Sprintf("get: %v", err)
	})
	if got, ok := readThird(ctx); !ok || got != "ap-south" {
		t.Errorf("preserveResourcesOnDeletion: the resources were deleted (region %q, exists %v)", got, ok)
	}
}
