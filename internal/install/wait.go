package install

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/config/crd"
	"github.com/ferrycd/ferry/internal/health"
)

// pollInterval is how often Wait and Uninstall look again.
const pollInterval = time.Second

// Wait waits until the API server serves every CRD of objs and the
// controller's Deployment has rolled out (every replica updated and
// available), writing a line to w whenever what it sees changes: the
// rollout's progress, and why pods do not start (an image that cannot be
// pulled, a pod that cannot be scheduled or keeps crashing). The wait is
// bounded by ctx alone; the error says what was last seen.
func (k *Cluster) Wait(ctx context.Context, objs []*unstructured.Unstructured, w io.Writer) error {
	if err := k.WaitCRDs(ctx, objs); err != nil {
		return err
	}
	fmt.Fprintf(w, "CRDs established (%d)\n", countKind(objs, "CustomResourceDefinition"))
	dep := find(objs, "Deployment")
	if dep == nil {
		return nil
	}
	last := ""
	for {
		done, seen, err := k.rollout(ctx, dep)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("wait for %s: %w", Describe(dep), err)
		}
		if seen != last && seen != "" {
			fmt.Fprintf(w, "%s: %s\n", Describe(dep), seen)
			last = seen
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s (last seen: %s): %w", Describe(dep), last, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// WaitCRDs waits until the API server serves every CRD of objs: objects of
// their kinds can be applied from then on.
func (k *Cluster) WaitCRDs(ctx context.Context, objs []*unstructured.Unstructured) error {
	for _, obj := range objs {
		if obj.GetKind() == "CustomResourceDefinition" {
			if err := crd.WaitEstablished(ctx, k.Client, obj.GetName()); err != nil {
				return err
			}
		}
	}
	return nil
}

// rollout reads the Deployment and its pods: whether it has rolled out, and
// what to tell about it.
func (k *Cluster) rollout(ctx context.Context, want *unstructured.Unstructured) (bool, string, error) {
	live := &unstructured.Unstructured{}
	live.SetGroupVersionKind(want.GroupVersionKind())
	if err := k.Client.Get(ctx, client.ObjectKeyFromObject(want), live); err != nil {
		return false, "", err
	}
	d := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(live.Object, d); err != nil {
		return false, "", fmt.Errorf("decode: %w", err)
	}
	h := health.Assess(live)
	want32 := int32(1)
	if d.Spec.Replicas != nil {
		want32 = *d.Spec.Replicas
	}
	seen := fmt.Sprintf("%d/%d updated, %d available", d.Status.UpdatedReplicas, want32, d.Status.AvailableReplicas)
	if h.Status == health.Healthy {
		return true, seen + ": rolled out", nil
	}
	problems, err := k.podProblems(ctx, d)
	if err != nil {
		return false, seen, err
	}
	if len(problems) > 0 {
		seen += "; " + strings.Join(problems, "; ")
	} else if h.Message != "" {
		seen += " (" + h.Message + ")"
	}
	return false, seen, nil
}

// podProblems says why the Deployment's pods are not ready, one entry per
// pod with a reason: a container waiting (ErrImagePull, CrashLoopBackOff),
// a pod the scheduler cannot place.
func (k *Cluster) podProblems(ctx context.Context, d *appsv1.Deployment) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("spec.selector: %w", err)
	}
	pods := &corev1.PodList{}
	if err := k.Client.List(ctx, pods, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if reason := podProblem(&p); reason != "" {
			out = append(out, "pod "+p.Name+": "+reason)
		}
	}
	slices.Sort(out)
	return out, nil
}

// podProblem is why a pod does not run, "" when nothing says.
func podProblem(p *corev1.Pod) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Message != "" {
			return "not scheduled: " + c.Message
		}
	}
	for _, cs := range slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses) {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			msg := w.Reason
			if w.Message != "" {
				msg += " (" + w.Message + ")"
			}
			return "container " + cs.Name + ": " + msg
		}
	}
	return ""
}

func countKind(objs []*unstructured.Unstructured, kind string) int {
	n := 0
	for _, o := range objs {
		if o.GetKind() == kind {
			n++
		}
	}
	return n
}
