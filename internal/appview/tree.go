package appview

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/health"
)

// Node is an object of an Application's resource tree: a managed resource
// (from status.resources) or an object one owns.
type Node struct {
	Group, Version, Kind, Namespace, Name string
	// UID is the live object's; empty when it could not be read.
	UID types.UID
	// Sync is a managed resource's sync status ("" for owned objects).
	Sync string
	// Health is the health status ("" unknown); for an owned object a
	// short status: a Pod's phase, a ReplicaSet's or Job's health.
	Health string
	// HealthMessage says more: the status's message for a managed
	// resource, "2/2 ready" for a ReplicaSet, "1 succeeded, 0 failed" for
	// a Job.
	HealthMessage string
	Hook          bool
	// Children are the ReplicaSets, Jobs and Pods this object owns
	// (through ownerReferences), maxTreeDepth levels at the most.
	Children []Node
}

// maxTreeDepth bounds the levels of owned objects under a resource (the
// deepest level is maxTreeDepth+1 below it).
const maxTreeDepth = 4

// Tree returns the Application's resources (from status.resources, in
// order) with the objects they own, read with c (the caller's client) in
// each destination namespace. Objects the caller cannot read are left out,
// not an error, unless nothing at all can be read.
func Tree(ctx context.Context, c client.Client, app *v1alpha1.Application) ([]Node, error) {
	t := &treeReader{c: c}
	owned := t.owned(ctx, app)
	nodes := make([]Node, 0, len(app.Status.Resources))
	for _, r := range app.Status.Resources {
		n := Node{Group: r.Group, Version: r.Version, Kind: r.Kind, Namespace: r.Namespace, Name: r.Name,
			Sync: string(r.Status), Hook: r.Hook, UID: t.uid(ctx, r)}
		if r.Health != nil {
			n.Health, n.HealthMessage = string(r.Health.Status), r.Health.Message
		}
		n.Children = childrenOf(owned, n.UID, 0)
		nodes = append(nodes, n)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if t.reads > 0 && t.failures == t.reads {
		return nil, fmt.Errorf("read the resources of %s: %w", app.Name, t.first)
	}
	return nodes, nil
}

// treeReader reads the tree's objects, counting what it could not read.
type treeReader struct {
	c               client.Client
	reads, failures int
	first           error
}

// done records a read's outcome and reports whether it succeeded.
func (t *treeReader) done(err error) bool {
	t.reads++
	if err == nil {
		return true
	}
	t.failures++
	if t.first == nil {
		t.first = err
	}
	return false
}

// uid is the UID of a managed resource's live object; "" when it does not
// exist or cannot be read.
func (t *treeReader) uid(ctx context.Context, r v1alpha1.ResourceStatus) types.UID {
	meta := &metav1.PartialObjectMetadata{}
	meta.SetGroupVersionKind(schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind})
	err := t.c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, meta)
	if apierrors.IsNotFound(err) {
		t.done(nil) // read: it is not there
		return ""
	}
	if !t.done(err) {
		return ""
	}
	return meta.UID
}

// owned lists the objects workloads own in the Application's namespaces,
// by owner UID.
func (t *treeReader) owned(ctx context.Context, app *v1alpha1.Application) map[types.UID][]Node {
	owned := map[types.UID][]Node{}
	seen := map[string]bool{}
	for _, r := range app.Status.Resources {
		if r.Namespace == "" || seen[r.Namespace] {
			continue
		}
		seen[r.Namespace] = true
		for _, k := range childKinds() {
			for _, obj := range t.list(ctx, k.gvk, r.Namespace) {
				n := Node{Group: k.gvk.Group, Version: k.gvk.Version, Kind: k.gvk.Kind, Namespace: obj.GetNamespace(),
					Name: obj.GetName(), UID: obj.GetUID()}
				n.Health, n.HealthMessage = k.status(&obj)
				for _, ref := range obj.GetOwnerReferences() {
					owned[ref.UID] = append(owned[ref.UID], n)
				}
			}
		}
	}
	return owned
}

// list lists the objects of a kind in a namespace; none when they cannot
// be read.
func (t *treeReader) list(ctx context.Context, gvk schema.GroupVersionKind, ns string) []unstructured.Unstructured {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	err := t.c.List(ctx, list, client.InNamespace(ns))
	if !t.done(err) {
		return nil
	}
	return list.Items
}

// childrenOf is the tree of the objects uid owns, from depth down.
func childrenOf(owned map[types.UID][]Node, uid types.UID, depth int) []Node {
	if uid == "" || depth > maxTreeDepth || len(owned[uid]) == 0 {
		return nil
	}
	kids := make([]Node, len(owned[uid]))
	for i, n := range owned[uid] {
		n.Children = childrenOf(owned, n.UID, depth+1)
		kids[i] = n
	}
	return kids
}

// childKind is a kind of owned object the tree shows, and its short
// status.
type childKind struct {
	gvk    schema.GroupVersionKind
	status func(*unstructured.Unstructured) (health, message string)
}

// childKinds are the owned objects the tree shows, in the order it shows
// an owner's children.
func childKinds() []childKind {
	return []childKind{
		{schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ReplicaSet"}, replicaSetStatus},
		{schema.GroupVersionKind{Group: "batch", Version: "v1", Kind: "Job"}, jobStatus},
		{schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, podStatus},
	}
}

func replicaSetStatus(rs *unstructured.Unstructured) (string, string) {
	ready, _, _ := unstructured.NestedInt64(rs.Object, "status", "readyReplicas")
	replicas, _, _ := unstructured.NestedInt64(rs.Object, "status", "replicas")
	return string(health.Assess(rs).Status), fmt.Sprintf("%d/%d ready", ready, replicas)
}

func jobStatus(job *unstructured.Unstructured) (string, string) {
	succeeded, _, _ := unstructured.NestedInt64(job.Object, "status", "succeeded")
	failed, _, _ := unstructured.NestedInt64(job.Object, "status", "failed")
	return string(health.Assess(job).Status), fmt.Sprintf("%d succeeded, %d failed", succeeded, failed)
}

func podStatus(pod *unstructured.Unstructured) (string, string) {
	phase, _, _ := unstructured.NestedString(pod.Object, "status", "phase")
	return phase, ""
}
