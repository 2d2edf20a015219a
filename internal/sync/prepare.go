package sync

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ScopeFunc reports whether objects of a kind are namespaced; the controller
// backs it with the API server's discovery (a RESTMapper).
type ScopeFunc func(schema.GroupVersionKind) (namespaced bool, err error)

// Prepare turns rendered objects into the desired objects of application
// app: namespaced objects without a namespace get destNamespace, cluster-
// scoped objects lose any namespace, and every object carries the tracking
// annotation. Kinds defined by a CRD in the same set take their scope from
// that CRD, so a CRD and its objects can be synced together. The input is not
// modified. An object whose kind is unknown, or that appears twice, is an
// error naming it.
func Prepare(app, destNamespace string, objs []*unstructured.Unstructured, scope ScopeFunc) ([]*unstructured.Unstructured, error) {
	crdScopes := crdScopesOf(objs)
	out := make([]*unstructured.Unstructured, 0, len(objs))
	seen := make(map[Key]bool, len(objs))
	for _, in := range objs {
		obj := in.DeepCopy()
		gvk := obj.GroupVersionKind()
		namespaced, ok := crdScopes[gvk.GroupKind()]
		if !ok {
			var err error
			if namespaced, err = scope(gvk); err != nil {
				return nil, fmt.Errorf("%s %s: kind not served by the cluster: %w", gvk.Kind, obj.GetName(), err)
			}
		}
		switch {
		case namespaced && obj.GetNamespace() == "":
			obj.SetNamespace(destNamespace)
		case !namespaced:
			obj.SetNamespace("")
		}
		if namespaced && obj.GetNamespace() == "" {
			return nil, fmt.Errorf("%s %s: namespaced, but neither the object nor the destination names a namespace", gvk.Kind, obj.GetName())
		}
		k := KeyOf(obj)
		if seen[k] {
			return nil, fmt.Errorf("%s appears more than once in the rendered manifests", k)
		}
		seen[k] = true
		annotations := obj.GetAnnotations()
		if annotations == nil {
			annotations = map[string]string{}
		}
		annotations[TrackingAnnotation] = TrackingID(app, k)
		obj.SetAnnotations(annotations)
		out = append(out, obj)
	}
	return out, nil
}

func crdScopesOf(objs []*unstructured.Unstructured) map[schema.GroupKind]bool {
	scopes := map[schema.GroupKind]bool{}
	for _, o := range objs {
		if o.GroupVersionKind().GroupKind() != (schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}) {
			continue
		}
		group, _, _ := unstructured.NestedString(o.Object, "spec", "group")
		kind, _, _ := unstructured.NestedString(o.Object, "spec", "names", "kind")
		scope, _, _ := unstructured.NestedString(o.Object, "spec", "scope")
		scopes[schema.GroupKind{Group: group, Kind: kind}] = scope == "Namespaced"
	}
	return scopes
}

// SortedKeys returns the keys of objs in a stable order.
func SortedKeys(objs []*unstructured.Unstructured) []Key {
	keys := make([]Key, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, KeyOf(o))
	}
	slices.SortFunc(keys, CompareKeys)
	return keys
}

// CompareKeys orders keys by group, kind, namespace and name.
func CompareKeys(a, b Key) int {
	for _, c := range [][2]string{{a.Group, b.Group}, {a.Kind, b.Kind}, {a.Namespace, b.Namespace}, {a.Name, b.Name}} {
		if c[0] != c[1] {
			if c[0] < c[1] {
				return -1
			}
			return 1
		}
	}
	return 0
}
