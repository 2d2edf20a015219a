package sync

import (
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// Helm's hook annotations. A chart rendered as `helm template` renders it
// keeps them, and Argo CD reads them when an object has no
// argocd.argoproj.io/hook (gitops-engine's pkg/sync/hook/helm), so Ferry
// does too. They are read when a sync is planned; objects are never
// rewritten.
const (
	HelmHookAnnotation             = "helm.sh/hook"
	HelmHookWeightAnnotation       = "helm.sh/hook-weight"
	HelmHookDeletePolicyAnnotation = "helm.sh/hook-delete-policy"
)

// helmHookPhases maps the Helm hooks Argo CD runs to its phases. Helm's
// other hooks (test, test-success, pre-delete, post-delete, pre-rollback,
// post-rollback) have no phase: an object with only those is a hook that
// never runs, as one marked Skip.
var helmHookPhases = map[string]Phase{
	"pre-install":  PhasePreSync,
	"pre-upgrade":  PhasePreSync,
	"post-install": PhasePostSync,
	"post-upgrade": PhasePostSync,
}

// helmDeletePolicies maps Helm's hook delete policies to Argo CD's.
var helmDeletePolicies = map[string]DeletePolicy{
	"before-hook-creation": BeforeHookCreation,
	"hook-succeeded":       HookSucceeded,
	"hook-failed":          HookFailed,
}

// isHelmHook reports whether obj is a hook by Helm's annotation alone: it
// has helm.sh/hook and no argocd.argoproj.io/hook (which wins). Helm 2's
// crd-install is not a hook: Argo CD applies such a CRD as any other
// object.
func isHelmHook(obj *unstructured.Unstructured) bool {
	annotations := obj.GetAnnotations()
	if _, ok := annotations[HookAnnotation]; ok {
		return false
	}
	v, ok := annotations[HelmHookAnnotation]
	return ok && strings.TrimSpace(v) != "crd-install"
}

// helmPhases returns the phases a Helm hook runs in, each once, in
// sync order; none for a hook that never runs. Unknown values are ignored,
// as Argo CD ignores them.
func helmPhases(obj *unstructured.Unstructured) []Phase {
	var phases []Phase
	for _, h := range strings.Split(obj.GetAnnotations()[HelmHookAnnotation], ",") {
		if p, ok := helmHookPhases[strings.TrimSpace(h)]; ok && !slices.Contains(phases, p) {
			phases = append(phases, p)
		}
	}
	slices.SortFunc(phases, func(a, b Phase) int { return phaseRank(a) - phaseRank(b) })
	return phases
}

// helmWeight is helm.sh/hook-weight as a wave: 0 when obj has none, or
// one that is not an integer (as Helm and Argo CD read it).
func helmWeight(obj *unstructured.Unstructured) int64 {
	w, err := strconv.ParseInt(strings.TrimSpace(obj.GetAnnotations()[HelmHookWeightAnnotation]), 10, 64)
	if err != nil {
		return 0
	}
	return w
}

// helmDeletePoliciesOf maps helm.sh/hook-delete-policy, ignoring values
// Helm does not define (as Helm and Argo CD do).
func helmDeletePoliciesOf(obj *unstructured.Unstructured) []DeletePolicy {
	v, ok := obj.GetAnnotations()[HelmHookDeletePolicyAnnotation]
	if !ok {
		return nil
	}
	var out []DeletePolicy
	for _, p := range strings.Split(v, ",") {
		if dp, ok := helmDeletePolicies[strings.TrimSpace(p)]; ok && !slices.Contains(out, dp) {
			out = append(out, dp)
		}
	}
	return out
}
