package health

import (
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestAssess(t *testing.T) {
	tests := []struct {
		name string
		obj  string
		want Status
	}{
		{"configmap has no status: healthy", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, generation: 1}}`, Healthy},
		{"deployment rolled out", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, generation: 2}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2,
  conditions: [{type: Available, status: "True"}, {type: Progressing, status: "True", reason: NewReplicaSetAvailable}]}`, Healthy},
		{"deployment not yet observed", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, generation: 3}
spec: {replicas: 2}
status: {observedGeneration: 2, replicas: 2}`, Progressing},
		{"deployment rollout failed", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, generation: 1}
spec: {replicas: 1}
status: {observedGeneration: 1, conditions: [{type: Progressing, status: "False", reason: ProgressDeadlineExceeded}]}`, Degraded},
		{"paused deployment", `{apiVersion: apps/v1, kind: Deployment, metadata: {name: d}, spec: {paused: true}}`, Suspended},
		{"suspended cronjob", `{apiVersion: batch/v1, kind: CronJob, metadata: {name: c}, spec: {suspend: true}}`, Suspended},
		{"failed job", `
apiVersion: batch/v1
kind: Job
metadata: {name: j, generation: 1}
spec: {}
status: {failed: 1, conditions: [{type: Failed, status: "True"}]}`, Degraded},
		{"custom resource stalled", `
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, generation: 1}
status: {observedGeneration: 1, conditions: [{type: Stalled, status: "True", reason: Broken}]}`, Degraded},
		{"terminating", `{apiVersion: v1, kind: ConfigMap, metadata: {name: a, deletionTimestamp: "2026-01-01T00:00:00Z"}}`, Progressing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Assess(obj(t, tt.obj)); got.Status != tt.want {
				t.Errorf("Assess = %s (%s), want %s", got.Status, got.Message, tt.want)
			}
		})
	}
	if got := Assess(nil); got.Status != Missing {
		t.Errorf("Assess(nil) = %s, want Missing", got.Status)
	}
}

func TestAggregate(t *testing.T) {
	tests := []struct {
		in   []Status
		want Status
	}{
		{nil, Healthy},
		{[]Status{Healthy, Progressing}, Progressing},
		{[]Status{Suspended, Healthy}, Suspended},
		{[]Status{Missing, Progressing, Healthy}, Missing},
		{[]Status{Degraded, Missing}, Degraded},
	}
	for _, tt := range tests {
		if got := Aggregate(tt.in...); got != tt.want {
			t.Errorf("Aggregate(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
