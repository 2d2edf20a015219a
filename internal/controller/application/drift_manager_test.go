package application

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// TestLastManagerIgnoresStatusWrites: after `kubectl scale` (an entry of
// the scale subresource, which the API server gives no time), the
// Deployment controller writes status, later; the drift is kubectl's.
func TestLastManagerIgnoresStatusWrites(t *testing.T) {
	at := func(s int) *metav1.Time { m := metav1.NewTime(time.Unix(1_700_000_000+int64(s), 0)); return &m }
	u := &unstructured.Unstructured{}
	u.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "ferry", Operation: metav1.ManagedFieldsOperationApply, Time: at(1)},
		{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "scale"},
		{Manager: "kubectl-create", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(0)},
		{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: at(3)},
	})
	if got := lastManager(u); got != "kubectl" {
		t.Errorf("lastManager = %q, want kubectl (the status write came later but is no drift)", got)
	}
}

// TestLastManagerNewest: of timed entries, the newest that is not Ferry's.
func TestLastManagerNewest(t *testing.T) {
	at := func(s int) *metav1.Time { m := metav1.NewTime(time.Unix(1_700_000_000+int64(s), 0)); return &m }
	u := &unstructured.Unstructured{}
	u.SetManagedFields([]metav1.ManagedFieldsEntry{
		{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(5)},
		{Manager: "operator", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(2)},
		{Manager: "ferry", Operation: metav1.ManagedFieldsOperationApply, Time: at(9)},
	})
	if got := lastManager(u); got != "kubectl-edit" {
		t.Errorf("lastManager = %q, want kubectl-edit", got)
	}
}
