package cli

import (
	"context"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// node is a live object in the resource tree.
type node struct {
	kind, name, status string
	uid                types.UID
	owners             []types.UID
}

// printTree prints the Application's resources with the objects they own
// (ReplicaSets, Jobs, Pods), found through ownerReferences in each
// destination namespace.
func printTree(ctx context.Context, w io.Writer, c client.Client, app *v1alpha1.Application) error {
	children := map[types.UID][]node{}
	uids := map[string]types.UID{}
	seen := map[string]bool{}
	for _, r := range app.Status.Resources {
		if r.Namespace == "" || seen[r.Namespace] {
			continue
		}
		seen[r.Namespace] = true
		nodes, err := workloadNodes(ctx, c, r.Namespace)
		if err != nil {
			return err
		}
		for _, n := range nodes {
			for _, o := range n.owners {
				children[o] = append(children[o], n)
			}
		}
	}
	for _, r := range app.Status.Resources {
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(schema.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind})
		if err := c.Get(ctx, client.ObjectKey{Namespace: r.Namespace, Name: r.Name}, meta); err == nil {
			uids[r.Kind+"/"+r.Namespace+"/"+r.Name] = meta.UID
		}
	}
	fmt.Fprintf(w, "%s/%s\n", app.Namespace, app.Name)
	for i, r := range app.Status.Resources {
		last := i == len(app.Status.Resources)-1
		health := ""
		if r.Health != nil {
			health = " " + string(r.Health.Status)
		}
		fmt.Fprintf(w, "%s%s/%s %s%s\n", branch(last), r.Kind, r.Name, r.Status, health)
		printChildren(w, children, uids[r.Kind+"/"+r.Namespace+"/"+r.Name], indent(last), 0)
	}
	return nil
}

func printChildren(w io.Writer, children map[types.UID][]node, uid types.UID, prefix string, depth int) {
	if uid == "" || depth > 4 {
		return
	}
	kids := children[uid]
	for i, n := range kids {
		last := i == len(kids)-1
		fmt.Fprintf(w, "%s%s%s/%s %s\n", prefix, branch(last), n.kind, n.name, n.status)
		printChildren(w, children, n.uid, prefix+indent(last), depth+1)
	}
}

func branch(last bool) string {
	if last {
		return "└─ "
	}
	return "├─ "
}

func indent(last bool) string {
	if last {
		return "   "
	}
	return "│  "
}

// workloadNodes lists the objects that workloads own in a namespace.
func workloadNodes(ctx context.Context, c client.Client, ns string) ([]node, error) {
	var nodes []node
	rs := &appsv1.ReplicaSetList{}
	if err := c.List(ctx, rs, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list replicasets in %s: %w", ns, err)
	}
	for _, o := range rs.Items {
		nodes = append(nodes, node{kind: "ReplicaSet", name: o.Name, uid: o.UID, owners: ownerUIDs(o.OwnerReferences),
			status: fmt.Sprintf("%d/%d ready", o.Status.ReadyReplicas, o.Status.Replicas)})
	}
	jobs := &batchv1.JobList{}
	if err := c.List(ctx, jobs, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list jobs in %s: %w", ns, err)
	}
	for _, o := range jobs.Items {
		nodes = append(nodes, node{kind: "Job", name: o.Name, uid: o.UID, owners: ownerUIDs(o.OwnerReferences),
			status: fmt.Sprintf("%d succeeded, %d failed", o.Status.Succeeded, o.Status.Failed)})
	}
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(ns)); err != nil {
		return nil, fmt.Errorf("list pods in %s: %w", ns, err)
	}
	for _, o := range pods.Items {
		nodes = append(nodes, node{kind: "Pod", name: o.Name, uid: o.UID, owners: ownerUIDs(o.OwnerReferences), status: string(o.Status.Phase)})
	}
	return nodes, nil
}

func ownerUIDs(refs []metav1.OwnerReference) []types.UID {
	out := make([]types.UID, len(refs))
	for i, r := range refs {
		out[i] = r.UID
	}
	return out
}
