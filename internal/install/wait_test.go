package install

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPodProblem(t *testing.T) {
	waiting := func(reason, msg string) corev1.PodStatus {
		return corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "controller",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}}
	}
	for _, tt := range []struct {
		name   string
		status corev1.PodStatus
		want   string
	}{
		{"image", waiting("ErrImagePull", "not found"), "container controller: ErrImagePull (not found)"},
		{"crash", waiting("CrashLoopBackOff", ""), "container controller: CrashLoopBackOff"},
		{"starting", waiting("ContainerCreating", ""), ""},
		{"unschedulable", corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Message: "0/3 nodes are available"}}}, "not scheduled: 0/3 nodes are available"},
		{"running", corev1.PodStatus{Phase: corev1.PodRunning}, ""},
	} {
		if got := podProblem(&corev1.Pod{Status: tt.status}); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
