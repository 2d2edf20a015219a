// Package health assesses a live Kubernetes object's health in Argo CD's
// terms (Healthy, Progressing, Degraded, Suspended, Missing, Unknown).
//
// There is one health system: kstatus (sigs.k8s.io/cli-utils) computes the
// generic status of any object — built-in kinds through its per-kind rules,
// custom resources through the standard Ready/Reconciling/Stalled
// conditions and observedGeneration — and a short table here adds what
// kstatus does not model (a paused Deployment, a suspended CronJob or Job are
// Suspended, as Argo CD reports them).
package health

import (
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// Status is an Argo CD health status code.
type Status string

// Argo CD's health status codes.
const (
	Healthy     Status = "Healthy"
	Progressing Status = "Progressing"
	Degraded    Status = "Degraded"
	Suspended   Status = "Suspended"
	Missing     Status = "Missing"
	Unknown     Status = "Unknown"
)

// Result is an object's health with a human-readable reason.
type Result struct {
	Status  Status
	Message string
}

// Assess returns the health of obj; a nil obj is Missing.
func Assess(obj *unstructured.Unstructured) Result {
	if obj == nil {
		return Result{Status: Missing}
	}
	if r, ok := suspended(obj); ok {
		return r
	}
	res, err := status.Compute(obj)
	if err != nil {
		return Result{Status: Unknown, Message: err.Error()}
	}
	return Result{Status: fromKstatus(res.Status), Message: res.Message}
}

func fromKstatus(s status.Status) Status {
	switch s {
	case status.CurrentStatus:
		return Healthy
	case status.InProgressStatus, status.TerminatingStatus:
		return Progressing
	case status.FailedStatus:
		return Degraded
	case status.NotFoundStatus:
		return Missing
	default:
		return Unknown
	}
}

// suspended reports the kinds that a person paused on purpose.
func suspended(obj *unstructured.Unstructured) (Result, bool) {
	gk := obj.GroupVersionKind().GroupKind()
	switch {
	case gk.Group == "apps" && gk.Kind == "Deployment":
		if paused, _, _ := unstructured.NestedBool(obj.Object, "spec", "paused"); paused {
			return Result{Status: Suspended, Message: "Deployment is paused"}, true
		}
	case gk.Group == "batch" && (gk.Kind == "CronJob" || gk.Kind == "Job"):
		if s, _, _ := unstructured.NestedBool(obj.Object, "spec", "suspend"); s {
			return Result{Status: Suspended, Message: gk.Kind + " is suspended"}, true
		}
	}
	return Result{}, false
}

// order ranks statuses from best to worst, as Argo CD aggregates them: an
// application is as healthy as its least healthy resource.
var order = map[Status]int{Healthy: 0, Suspended: 1, Progressing: 2, Missing: 3, Unknown: 4, Degraded: 5}

// Worse reports whether a is less healthy than b.
func Worse(a, b Status) bool { return order[a] > order[b] }

// Aggregate returns the worst of statuses; Healthy for none.
func Aggregate(statuses ...Status) Status {
	worst := Healthy
	for _, s := range statuses {
		if Worse(s, worst) {
			worst = s
		}
	}
	return worst
}
