package install

import (
	"context"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
)

// FieldManager is the field manager Apply applies as. It is not the
// controller's ("ferry"), so that `kubectl get --show-managed-fields` tells
// what the install set from what the controller did.
const FieldManager = "ferry-install"

// Cluster is where the install goes, reached with the caller's identity:
// Kubernetes RBAC decides what each verb may do (Check says beforehand).
type Cluster struct {
	Client    client.Client
	Discovery discovery.DiscoveryInterface
}

// NewCluster returns the Cluster cfg reaches.
func NewCluster(cfg *rest.Config) (*Cluster, error) {
	c, err := client.New(cfg, client.Options{Scheme: api.NewScheme()})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	d, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create discovery client: %w", err)
	}
	return &Cluster{Client: c, Discovery: d}, nil
}

// Action is what Apply did to an object.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
)

// Result is what Apply did to one object.
type Result struct {
	Object string // "Deployment argocd/ferry-controller"
	Action Action
}

// Apply server-side applies objs in order as FieldManager, taking over
// the fields another manager set (an install is authoritative over its
// own objects), and says what changed. Applying the same objects again
// changes nothing: each Result is then Unchanged. It stops at the first
// error, which names the object.
func (k *Cluster) Apply(ctx context.Context, objs []*unstructured.Unstructured) ([]Result, error) {
	results := make([]Result, 0, len(objs))
	for _, obj := range objs {
		action, err := k.apply(ctx, obj.DeepCopy())
		if err != nil {
			return results, fmt.Errorf("apply %s: %w", Describe(obj), err)
		}
		results = append(results, Result{Object: Describe(obj), Action: action})
	}
	return results, nil
}

// Report writes what Apply did, an object a line: "Deployment
// argocd/ferry-controller unchanged".
func Report(w io.Writer, results []Result) {
	for _, r := range results {
		fmt.Fprintf(w, "%s %s\n", r.Object, r.Action)
	}
}

// apply applies obj, which it changes to the object the server returns.
func (k *Cluster) apply(ctx context.Context, obj *unstructured.Unstructured) (Action, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(obj.GroupVersionKind())
	before := ""
	switch err := k.Client.Get(ctx, client.ObjectKeyFromObject(obj), live); {
	case err == nil:
		before = live.GetResourceVersion()
	case !apierrors.IsNotFound(err):
		return "", err
	}
	if err := k.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
		client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
		return "", err
	}
	switch {
	case before == "":
		return Created, nil
	case obj.GetResourceVersion() == before:
		return Unchanged, nil
	}
	return Configured, nil
}

// Describe names an object as Ferry's messages do: its kind, then
// namespace/name or name.
func Describe(obj client.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	if ns := obj.GetNamespace(); ns != "" {
		return kind + " " + ns + "/" + obj.GetName()
	}
	return kind + " " + obj.GetName()
}

// find returns the first of objs of kind, nil when there is none.
func find(objs []*unstructured.Unstructured, kind string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind {
			return o
		}
	}
	return nil
}

// Namespace is the namespace objs install into: their Namespace object's
// name.
func Namespace(objs []*unstructured.Unstructured) string {
	if ns := find(objs, "Namespace"); ns != nil {
		return ns.GetName()
	}
	return DefaultNamespace
}
