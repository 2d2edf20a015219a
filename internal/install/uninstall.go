package install

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// UninstallOptions change what Uninstall removes.
type UninstallOptions struct {
	// KeepCRDs keeps the CRDs, and so every Application, ApplicationSet,
	// AppProject and image automation object: for a reinstall, or when
	// Argo CD or Flux serve the same CRDs.
	KeepCRDs bool
}

// Removal is what Uninstall did.
type Removal struct {
	// Deleted are the install's objects deleted (or already gone).
	Deleted []string
	// Released are the objects of Ferry's kinds whose finalizers were
	// removed, so that deleting the CRDs deletes them without waiting for
	// a controller that is gone.
	Released []string
	// NamespaceKept is set when the namespace was kept, with Leftovers the
	// objects in it that are not Ferry's (at most maxLeftovers of them).
	NamespaceKept bool
	Leftovers     []string
	// MoreLeftovers counts the leftovers not in Leftovers.
	MoreLeftovers int
}

// maxLeftovers is how many of the objects keeping the namespace are named.
const maxLeftovers = 10

// leaseDuration is controller-runtime's default leader election Lease: a
// Lease renewed more recently than this has a live holder.
const leaseDuration = 15 * time.Second

// Uninstall removes what objs installed and leaves everything Ferry
// deployed in place:
//
//  1. The controller stops first: its Deployment is deleted and every
//     pod waited out, and no Lease of the namespace may still be renewed
//     (a controller running elsewhere would cascade the deletions below).
//  2. Unless opts.KeepCRDs, every object of Ferry's CRDs loses its
//     finalizers (resources-finalizer.argocd.argoproj.io asks the
//     controller to delete an Application's resources: with no controller
//     it would only block the deletion).
//  3. The other objects are deleted, CRDs last, and their deletion waited
//     for; deleting a CRD deletes its objects, which cascades to nothing:
//     Ferry marks what it deploys with an annotation, never an owner
//     reference, so the garbage collector leaves it alone.
//  4. The namespace is deleted only if nothing but Ferry's own objects is
//     left in it (Removal.Leftovers says what kept it).
//
// Progress lines go to w. Objects already gone are no error, so an
// interrupted Uninstall can run again.
func (k *Cluster) Uninstall(ctx context.Context, objs []*unstructured.Unstructured, opts UninstallOptions, w io.Writer) (*Removal, error) {
	r := &Removal{}
	ns := Namespace(objs)
	if dep := find(objs, "Deployment"); dep != nil {
		fmt.Fprintf(w, "Stopping the controller: deleting %s\n", Describe(dep))
		if err := k.stopController(ctx, dep); err != nil {
			return r, err
		}
		r.Deleted = append(r.Deleted, Describe(dep))
	}
	if err := k.checkNoController(ctx, ns, w); err != nil {
		return r, err
	}
	if !opts.KeepCRDs {
		for _, obj := range objs {
			if obj.GetKind() != "CustomResourceDefinition" {
				continue
			}
			released, err := k.releaseAll(ctx, obj)
			r.Released = append(r.Released, released...)
			if err != nil {
				return r, err
			}
		}
		if len(r.Released) > 0 {
			fmt.Fprintf(w, "Removed the finalizers of %d objects: %s\n", len(r.Released), strings.Join(r.Released, ", "))
		}
	}
	var pending []*unstructured.Unstructured
	for _, obj := range slices.Backward(objs) {
		switch kind := obj.GetKind(); {
		case kind == "Deployment" || kind == "Namespace":
			continue
		case kind == "CustomResourceDefinition" && opts.KeepCRDs:
			continue
		}
		if err := k.Client.Delete(ctx, obj.DeepCopy(), client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
			return r, fmt.Errorf("delete %s: %w", Describe(obj), err)
		}
		r.Deleted = append(r.Deleted, Describe(obj))
		pending = append(pending, obj)
	}
	fmt.Fprintf(w, "Deleting %d objects, the CRDs last; waiting until they are gone\n", len(pending))
	if err := k.waitGone(ctx, pending); err != nil {
		return r, err
	}
	if err := k.removeNamespace(ctx, ns, r); err != nil {
		return r, err
	}
	return r, nil
}

// stopController deletes the Deployment in the foreground (its ReplicaSets
// and pods first) and waits until no pod of it is left.
func (k *Cluster) stopController(ctx context.Context, dep *unstructured.Unstructured) error {
	live := &appsv1.Deployment{}
	err := k.Client.Get(ctx, client.ObjectKeyFromObject(dep), live)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", Describe(dep), err)
	}
	sel, err := metav1.LabelSelectorAsSelector(live.Spec.Selector)
	if err != nil {
		return fmt.Errorf("%s spec.selector: %w", Describe(dep), err)
	}
	if err := k.Client.Delete(ctx, live, client.PropagationPolicy(metav1.DeletePropagationForeground)); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete %s: %w", Describe(dep), err)
	}
	// Foreground: the Deployment goes once its ReplicaSets and pods have.
	return poll(ctx, "the controller's pods to stop", func() (bool, string, error) {
		pods := &corev1.PodList{}
		if err := k.Client.List(ctx, pods, client.InNamespace(dep.GetNamespace()), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return false, "", err
		}
		names := make([]string, len(pods.Items))
		for i, p := range pods.Items {
			names[i] = p.Name
		}
		err := k.Client.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{})
		if err != nil && !apierrors.IsNotFound(err) {
			return false, "", err
		}
		return len(pods.Items) == 0 && err != nil, fmt.Sprintf("pods %s; Deployment gone: %v", strings.Join(names, ", "), err != nil), nil
	})
}

// checkNoController fails when a Lease of the namespace is still renewed
// once the Deployment's pods are gone: a controller runs elsewhere (an
// old install, a process on a laptop) and would act on the deletions. A
// Lease renewed within leaseDuration is read again after it would have
// expired.
func (k *Cluster) checkNoController(ctx context.Context, ns string, w io.Writer) error {
	leases := &coordinationv1.LeaseList{}
	if err := k.Client.List(ctx, leases, client.InNamespace(ns)); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil
		}
		return fmt.Errorf("list Leases in %s: %w", ns, err)
	}
	for _, l := range leases.Items {
		if !strings.HasPrefix(l.Name, "ferry-") || l.Spec.RenewTime == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity == "" {
			continue
		}
		renewed := l.Spec.RenewTime.Time
		age := time.Since(renewed)
		if age > leaseDuration+5*time.Second {
			continue
		}
		fmt.Fprintf(w, "Lease %s/%s was renewed %s ago by %s: waiting to see whether it still is\n", ns, l.Name, age.Round(time.Second), *l.Spec.HolderIdentity)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(leaseDuration + 2*time.Second - age):
		}
		again := &coordinationv1.Lease{}
		if err := k.Client.Get(ctx, client.ObjectKeyFromObject(&l), again); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read Lease %s/%s: %w", ns, l.Name, err)
		}
		if again.Spec.RenewTime != nil && again.Spec.RenewTime.After(renewed) {
			holder := ""
			if again.Spec.HolderIdentity != nil {
				holder = *again.Spec.HolderIdentity
			}
			return fmt.Errorf("Lease %s/%s is still renewed, by %s: a Ferry controller runs outside the Deployment and would act on the deletions; stop it, then run ferry uninstall again", ns, l.Name, holder)
		}
	}
	return nil
}

// releaseAll removes the finalizers of every object of the CRD's kind.
// A CRD not there has no objects.
func (k *Cluster) releaseAll(ctx context.Context, crd *unstructured.Unstructured) ([]string, error) {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	version := ""
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if stored, _ := m["storage"].(bool); stored {
			version, _ = m["name"].(string)
		}
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: version, Kind: kind + "List"})
	if err := k.Client.List(ctx, list); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list %s: %w", crd.GetName(), err)
	}
	var released []string
	for i := range list.Items {
		obj := &list.Items[i]
		if len(obj.Finalizers) == 0 {
			continue
		}
		obj.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: version, Kind: kind})
		patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`))
		if err := k.Client.Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
			return released, fmt.Errorf("remove the finalizers of %s %s/%s: %w", kind, obj.Namespace, obj.Name, err)
		}
		released = append(released, Describe(obj))
	}
	return released, nil
}

// waitGone waits until every one of objs is gone (a CRD goes once its
// objects have).
func (k *Cluster) waitGone(ctx context.Context, objs []*unstructured.Unstructured) error {
	return poll(ctx, "the deleted objects to go", func() (bool, string, error) {
		var left []string
		for _, obj := range objs {
			live := &metav1.PartialObjectMetadata{}
			live.SetGroupVersionKind(obj.GroupVersionKind())
			err := k.Client.Get(ctx, client.ObjectKeyFromObject(obj), live)
			if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
				continue
			}
			if err != nil {
				return false, "", fmt.Errorf("read %s: %w", Describe(obj), err)
			}
			left = append(left, Describe(obj))
		}
		return len(left) == 0, "left: " + strings.Join(left, ", "), nil
	})
}

// removeNamespace deletes the namespace when nothing but Ferry's own is in
// it, and otherwise records what kept it. A kind that cannot be listed
// keeps it too: what cannot be seen cannot be judged Ferry's.
func (k *Cluster) removeNamespace(ctx context.Context, ns string, r *Removal) error {
	nsObj := &corev1.Namespace{}
	if err := k.Client.Get(ctx, client.ObjectKey{Name: ns}, nsObj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("read Namespace %s: %w", ns, err)
	}
	left, err := k.leftovers(ctx, ns)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		r.NamespaceKept = true
		r.Leftovers, r.MoreLeftovers = left[:min(len(left), maxLeftovers)], max(0, len(left)-maxLeftovers)
		return nil
	}
	if err := k.Client.Delete(ctx, nsObj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Namespace %s: %w", ns, err)
	}
	r.Deleted = append(r.Deleted, "Namespace "+ns)
	return nil
}

// leftovers lists what is in the namespace besides what Kubernetes puts in
// every namespace, what Ferry made there (its Leases, the Service's
// endpoints) and Events, by "Kind name", sorted.
func (k *Cluster) leftovers(ctx context.Context, ns string) ([]string, error) {
	lists, err := k.Discovery.ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover the namespaced resources: %w", err)
	}
	var left []string
	var errs []error
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range l.APIResources {
			if !slices.Contains(res.Verbs, "list") || ignoredKinds[schema.GroupKind{Group: gv.Group, Kind: res.Kind}] {
				continue
			}
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(gv.WithKind(res.Kind + "List"))
			if err := k.Client.List(ctx, list, client.InNamespace(ns)); err != nil {
				if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
					continue // gone since discovery (a deleted CRD)
				}
				errs = append(errs, fmt.Errorf("list %s in %s: %w", res.Name, ns, err))
				continue
			}
			for _, obj := range list.Items {
				if !ferrysOwn(res.Kind, &obj) {
					left = append(left, res.Kind+" "+obj.Name)
				}
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cannot tell whether namespace %s holds anything but Ferry (it is kept): %w", ns, err)
	}
	slices.Sort(left)
	return left, nil
}

// ignoredKinds are never a reason to keep a namespace: they describe what
// happened in it, or are made and removed with something else.
var ignoredKinds = map[schema.GroupKind]bool{
	{Kind: "Event"}:                         true,
	{Group: "events.k8s.io", Kind: "Event"}: true,
}

// ferrysOwn reports whether obj is made in every namespace by Kubernetes,
// or for Ferry: the default ServiceAccount and root CA ConfigMap, Ferry's
// Leases, the controller Service's endpoints, and objects already being
// deleted.
func ferrysOwn(kind string, obj *metav1.PartialObjectMetadata) bool {
	switch {
	case obj.DeletionTimestamp != nil:
		return true
	case kind == "ServiceAccount" && obj.Name == "default":
		return true
	case kind == "ConfigMap" && obj.Name == "kube-root-ca.crt":
		return true
	case kind == "Lease" && strings.HasPrefix(obj.Name, "ferry-"):
		return true
	case (kind == "Endpoints" || kind == "EndpointSlice") && (obj.Name == Name || obj.Labels["kubernetes.io/service-name"] == Name):
		return true
	}
	return false
}

// poll calls check every pollInterval until it reports done or fails, or
// ctx ends; the error then says what it last saw.
func poll(ctx context.Context, what string, check func() (bool, string, error)) error {
	last := ""
	for {
		done, seen, err := check()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("wait for %s: %w", what, err)
		}
		if done {
			return nil
		}
		if seen != "" {
			last = seen
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s (%s): %w", what, last, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}
