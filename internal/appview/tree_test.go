package appview

import (
	"context"
	"errors"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func ownedBy(uid types.UID) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "x", Name: "x", UID: uid}}
}

// treeObjects: Deployment web owns ReplicaSet web-1, which owns two Pods;
// a ConfigMap owns nothing.
func treeObjects() (*v1alpha1.Application, []client.Object) {
	app := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "web"}}
	app.Status.Resources = []v1alpha1.ResourceStatus{
		{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "team", Name: "web", Status: v1alpha1.SyncStatusCodeSynced,
			Health: &v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy, Message: "2 ready"}},
		{Version: "v1", Kind: "ConfigMap", Namespace: "team", Name: "cfg", Status: v1alpha1.SyncStatusCodeOutOfSync},
	}
	deploy := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web", UID: "d-1"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "cfg", UID: "c-1"}}
	rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1", UID: "r-1", OwnerReferences: ownedBy("d-1")},
		Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1}}
	pods := []client.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1-a", UID: "p-1", OwnerReferences: ownedBy("r-1")},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "web-1-b", UID: "p-2", OwnerReferences: ownedBy("r-1")},
			Status: corev1.PodStatus{Phase: corev1.PodPending}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "team", Name: "loose", UID: "p-3"}},
	}
	return app, append([]client.Object{deploy, cm, rs}, pods...)
}

func TestTree(t *testing.T) {
	app, objs := treeObjects()
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(objs...).Build()
	nodes, err := Tree(t.Context(), c, app)
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 2 {
		t.Fatalf("Tree: %d nodes, want the 2 resources: %+v", len(nodes), nodes)
	}
	web, cfg := nodes[0], nodes[1]
	if web.Kind != "Deployment" || web.UID != "d-1" || web.Sync != "Synced" || web.Health != "Healthy" || web.HealthMessage != "2 ready" {
		t.Errorf("deployment node: %+v", web)
	}
	if cfg.Kind != "ConfigMap" || cfg.Sync != "OutOfSync" || cfg.Health != "" || len(cfg.Children) != 0 {
		t.Errorf("configmap node: %+v", cfg)
	}
	if len(web.Children) != 1 {
		t.Fatalf("deployment children: %+v, want ReplicaSet web-1", web.Children)
	}
	rs := web.Children[0]
	if rs.Kind != "ReplicaSet" || rs.Group != "apps" || rs.Name != "web-1" || rs.HealthMessage != "1/2 ready" || rs.Health == "" {
		t.Errorf("replicaset node: %+v", rs)
	}
	if len(rs.Children) != 2 || rs.Children[0].Health != "Running" || rs.Children[1].Health != "Pending" || rs.Children[0].Sync != "" {
		t.Errorf("pods under the replicaset: %+v", rs.Children)
	}
}

func TestTreeLeavesOutWhatCannotBeRead(t *testing.T) {
	app, objs := treeObjects()
	forbidden := func(what string) error {
		return apierrors.NewForbidden(schema.GroupResource{Resource: what}, "", errors.New("no"))
	}
	noPods := interceptor.Funcs{List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
		if u, ok := list.(*unstructured.UnstructuredList); ok && u.GetKind() == "PodList" {
			return forbidden("pods")
		}
		return c.List(ctx, list, opts...)
	}}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(objs...).WithInterceptorFuncs(noPods).Build()
	nodes, err := Tree(t.Context(), c, app)
	if err != nil {
		t.Fatal(err)
	}
	if rs := nodes[0].Children; len(rs) != 1 || len(rs[0].Children) != 0 {
		t.Errorf("without the right to list Pods: %+v, want the ReplicaSet alone", nodes[0].Children)
	}

	nothing := interceptor.Funcs{
		List: func(context.Context, client.WithWatch, client.ObjectList, ...client.ListOption) error {
			return forbidden("any")
		},
		Get: func(context.Context, client.WithWatch, client.ObjectKey, client.Object, ...client.GetOption) error {
			return forbidden("any")
		},
	}
	c = fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(objs...).WithInterceptorFuncs(nothing).Build()
	if _, err := Tree(t.Context(), c, app); !apierrors.IsForbidden(err) {
		t.Errorf("Tree when nothing can be read: err = %v, want the refusal", err)
	}
}
