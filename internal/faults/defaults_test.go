package faults_test

import (
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
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
)

// TestLocalRepositoriesRefusedByDefault: `ferry controller` with its
// defaults reads no repository on its own disk. An Application and an
// ApplicationSet git generator pointing at a file:// repository report the
// refusal, naming the flag that lifts it, and nothing is applied or
// generated.
func TestLocalRepositoriesRefusedByDefault(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	cl := newClient(t, c)
	repo := newGitRepo(t)
	repo.commit("one", map[string]string{"app/cm.yaml": configMap("local", "1")})
	startReplica(t, c, "controller")

	app := createApp(t, cl, "local", repo, "default", &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}})
	set := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(`apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata: {name: local, namespace: argocd}
spec:
  generators:
  - git:
      repoURL: file://`+repo.dir+`
      revision: main
      directories: [{path: "*"}]
  template:
    metadata: {name: 'local-{{path.basename}}'}
    spec:
      project: default
      source: {repoURL: 'file://`+repo.dir+`', targetRevision: main, path: '{{path}}'}
      destination: {server: https://kubernetes.default.svc, namespace: default}
`), &set.Object); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(t.Context(), set); err != nil {
		t.Fatal(err)
	}

	const flag = "--allow-local-repositories"
	localclustertest.Eventually(t, time.Minute, "the Application reports the refusal", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.Application{}
		if err := cl.Get(ctx, client.ObjectKeyFromObject(app), got); err != nil {
			return false, err.Error()
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == v1alpha1.ApplicationConditionInvalidSpecError && strings.Contains(cond.Message, flag) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", got.Status.Conditions)
	})
	localclustertest.Eventually(t, time.Minute, "the ApplicationSet reports the refusal", func(ctx context.Context) (bool, string) {
		got := &v1alpha1.ApplicationSet{}
		if err := cl.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: "local"}, got); err != nil {
			return false, err.Error()
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == "ErrorOccurred" && cond.Status == "True" && strings.Contains(cond.Message, flag) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", got.Status.Conditions)
	})
	if err := cl.Get(t.Context(), client.ObjectKey{Namespace: "default", Name: "local"}, &corev1.ConfigMap{}); err == nil {
		t.Error("the local repository's ConfigMap was applied")
	}
	apps := &v1alpha1.ApplicationList{}
	if err := cl.List(t.Context(), apps, client.InNamespace("argocd")); err != nil {
		t.Fatal(err)
	}
	if len(apps.Items) != 1 {
		t.Errorf("Applications %d, want only the test's own (the ApplicationSet generated none)", len(apps.Items))
	}
}
