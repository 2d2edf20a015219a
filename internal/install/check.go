package install

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// MinKubernetes is the oldest Kubernetes the install is made for: the
// restricted Pod Security labels of its namespace need 1.25, server-side
// apply (how it is applied, and how Ferry syncs) 1.22, policy/v1 (the
// PodDisruptionBudget) 1.21. Ferry is tested on the version of its local
// control plane (localcluster.KubeVersion).
const MinKubernetes = "1.25"

// Status is a check's verdict.
type Status string

const (
	Pass Status = "ok"
	Fail Status = "FAIL"
	// Skipped: nothing to check (Ferry is not installed).
	Skipped Status = "-"
)

// Finding is one line of Check's report.
type Finding struct {
	Check  string
	Status Status
	Detail string
}

// Failed reports whether any finding failed.
func Failed(findings []Finding) bool {
	return slices.ContainsFunc(findings, func(f Finding) bool { return f.Status == Fail })
}

// installVerbs are what Apply and Wait ask of each object's resource:
// server-side apply patches, and creates what does not exist yet.
var installVerbs = []string{"get", "create", "patch"}

// Check says whether the cluster can run Ferry as objs install it: the
// Kubernetes version; whether the current user may install it (a
// SelfSubjectAccessReview per resource and verb, and the right to grant
// what the ClusterRoles grant); and, when Ferry is installed, whether its
// CRDs are Established and its Deployment available. When nothing of
// Ferry is on the cluster, the last two are skipped, so Check is also the
// check before an install.
func (k *Cluster) Check(ctx context.Context, objs []*unstructured.Unstructured) []Finding {
	out := []Finding{k.checkVersion()}
	out = append(out, k.checkAccess(ctx, objs)...)
	crds, installed := k.checkCRDs(ctx, objs)
	dep := find(objs, "Deployment")
	depFinding, depExists := k.checkDeployment(ctx, dep)
	if !installed && !depExists {
		return append(out, Finding{Check: "Ferry installed", Status: Skipped, Detail: "no CRD nor Deployment of Ferry: install with ferry install"})
	}
	out = append(out, crds...)
	if dep != nil {
		out = append(out, depFinding)
	}
	return out
}

func (k *Cluster) checkVersion() Finding {
	f := Finding{Check: "Kubernetes version"}
	info, err := k.Discovery.ServerVersion()
	if err != nil {
		f.Status, f.Detail = Fail, "read the server version: "+err.Error()
		return f
	}
	v, err := version.ParseGeneric(info.GitVersion)
	if err != nil {
		f.Status, f.Detail = Fail, fmt.Sprintf("server version %q: %v", info.GitVersion, err)
		return f
	}
	f.Detail = fmt.Sprintf("%s (at least %s)", info.GitVersion, MinKubernetes)
	f.Status = Pass
	if !v.AtLeast(version.MustParseGeneric(MinKubernetes)) {
		f.Status = Fail
	}
	return f
}

// checkAccess asks the API server, for each resource objs hold, whether
// the current user may install it, and whether they may grant the
// ClusterRoles' rights.
func (k *Cluster) checkAccess(ctx context.Context, objs []*unstructured.Unstructured) []Finding {
	type target struct{ group, resource, namespace string }
	var targets []target
	for _, obj := range objs {
		gvk := obj.GroupVersionKind()
		mapping, err := k.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return []Finding{{Check: "access: " + gvk.Kind, Status: Fail, Detail: fmt.Sprintf("the cluster does not serve %s: %v", gvk, err)}}
		}
		t := target{mapping.Resource.Group, mapping.Resource.Resource, obj.GetNamespace()}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	var out []Finding
	for _, t := range targets {
		resource := t.resource
		if t.group != "" {
			resource += "." + t.group
		}
		check := "access: " + resource
		if t.namespace != "" {
			check += " in " + t.namespace
		}
		f := Finding{Check: check, Status: Pass, Detail: "may " + strings.Join(installVerbs, ", ")}
		var denied []string
		for _, verb := range installVerbs {
			ok, err := k.allowed(ctx, authorizationv1.ResourceAttributes{Group: t.group, Resource: t.resource, Namespace: t.namespace, Verb: verb})
			if err != nil {
				f.Status, f.Detail = Fail, err.Error()
				break
			}
			if !ok {
				denied = append(denied, verb)
			}
		}
		if len(denied) > 0 {
			f.Status, f.Detail = Fail, "cannot "+strings.Join(denied, ", ")
		}
		out = append(out, f)
	}
	return append(out, k.checkGrant(ctx))
}

// checkGrant: RBAC lets a user create a ClusterRole, or bind one, only if
// they hold every right it grants, or may escalate and bind. ferry-deploy
// grants every verb on every resource, which only a cluster-admin holds.
func (k *Cluster) checkGrant(ctx context.Context) Finding {
	f := Finding{Check: "access: grant the ClusterRoles' rights", Status: Pass, Detail: "holds every verb on every resource"}
	all, err := k.allowed(ctx, authorizationv1.ResourceAttributes{Group: "*", Resource: "*", Verb: "*"})
	if err != nil {
		f.Status, f.Detail = Fail, err.Error()
		return f
	}
	if all {
		return f
	}
	for _, verb := range []string{"escalate", "bind"} {
		ok, err := k.allowed(ctx, authorizationv1.ResourceAttributes{Group: "rbac.authorization.k8s.io", Resource: "clusterroles", Verb: verb})
		if err != nil || !ok {
			f.Status = Fail
			f.Detail = "ferry-deploy grants every verb on every resource: you need that yourself (cluster-admin), or escalate and bind on clusterroles"
			return f
		}
	}
	f.Detail = "may escalate and bind clusterroles"
	return f
}

// allowed asks the API server whether the current user may do what attrs
// say.
func (k *Cluster) allowed(ctx context.Context, attrs authorizationv1.ResourceAttributes) (bool, error) {
	review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs}}
	if err := k.Client.Create(ctx, review); err != nil {
		return false, fmt.Errorf("SelfSubjectAccessReview: %w", err)
	}
	return review.Status.Allowed, nil
}

// checkCRDs reports each CRD of objs: Established or not, missing; and
// whether any is on the cluster.
func (k *Cluster) checkCRDs(ctx context.Context, objs []*unstructured.Unstructured) ([]Finding, bool) {
	var out []Finding
	found := false
	for _, obj := range objs {
		if obj.GetKind() != "CustomResourceDefinition" {
			continue
		}
		f := Finding{Check: "CRD " + obj.GetName()}
		live := &unstructured.Unstructured{}
		live.SetGroupVersionKind(obj.GroupVersionKind())
		err := k.Client.Get(ctx, client.ObjectKeyFromObject(obj), live)
		switch {
		case apierrors.IsNotFound(err):
			f.Status, f.Detail = Fail, "missing: ferry install creates it"
		case err != nil:
			f.Status, f.Detail = Fail, err.Error()
		default:
			found = true
			f.Status, f.Detail = Fail, "not Established"
			conds, _, _ := unstructured.NestedSlice(live.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					f.Status, f.Detail = Pass, "Established"
				} else if m["type"] == "Established" {
					f.Detail = fmt.Sprintf("not Established: %v", m["message"])
				}
			}
		}
		out = append(out, f)
	}
	return out, found
}

// checkDeployment reports whether the controller's Deployment has rolled
// out, and whether it exists.
func (k *Cluster) checkDeployment(ctx context.Context, dep *unstructured.Unstructured) (Finding, bool) {
	if dep == nil {
		return Finding{}, false
	}
	f := Finding{Check: Describe(dep)}
	err := k.Client.Get(ctx, client.ObjectKeyFromObject(dep), &appsv1.Deployment{})
	if apierrors.IsNotFound(err) {
		f.Status, f.Detail = Fail, "missing: ferry install creates it"
		return f, false
	}
	done, seen, err := k.rollout(ctx, dep)
	switch {
	case err != nil:
		f.Status, f.Detail = Fail, err.Error()
	case done:
		f.Status, f.Detail = Pass, seen
	default:
		f.Status, f.Detail = Fail, seen
	}
	return f, true
}
