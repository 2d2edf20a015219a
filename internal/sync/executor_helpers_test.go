package sync_test

import (
	"context"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// newExecutor starts an API server for the test and returns a client of
// its non-admin user and an executor using it (4 at a time).
func newExecutor(t *testing.T) (client.Client, *fsync.Executor) {
	t.Helper()
	c := localclustertest.Start(t, localcluster.Options{Mode: localcluster.ModeAPI})
	cl, err := client.New(c.UserConfig(), client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return cl, fsync.NewExecutor(cl, cl.RESTMapper(), 4)
}

func configMap(ns, name, value string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"data": map[string]any{"v": value}}}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetAnnotations(map[string]string{fsync.TrackingAnnotation: fsync.TrackingID("app", fsync.KeyOf(u))})
	return u
}

func deployment(ns, name string, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{"spec": map[string]any{
		"selector": map[string]any{"matchLabels": map[string]any{"app": name}},
		"template": map[string]any{
			"metadata": map[string]any{"labels": map[string]any{"app": name}},
			"spec":     map[string]any{"containers": []any{map[string]any{"name": "c", "image": "example/app:1"}}},
		},
	}}}
	u.SetAPIVersion("apps/v1")
	u.SetKind("Deployment")
	u.SetNamespace(ns)
	u.SetName(name)
	u.SetAnnotations(annotations)
	return u
}

func annotate(u *unstructured.Unstructured, kv ...string) *unstructured.Unstructured {
	a := u.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		a[kv[i]] = kv[i+1]
	}
	u.SetAnnotations(a)
	return u
}

func exists(ctx context.Context, t *testing.T, cl client.Client, ns, name string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("v1")
	u.SetKind("ConfigMap")
	if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u); err != nil {
		return nil
	}
	return u
}
