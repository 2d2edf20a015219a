package appstate

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

func TestConfirmationMessageRoundTrip(t *testing.T) {
	keys := []fsync.Key{
		{Kind: "ConfigMap", Namespace: "apps", Name: "settings"},
		{Kind: "Namespace", Name: "data"},
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: `odd, "name": with spaces`},
		{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"},
	}
	app := newApp(nil)
	for _, deleting := range []bool{false, true} {
		msg := ConfirmationMessage(app, keys, deleting)
		if !strings.Contains(msg, "ferry app confirm-deletion demo -n ferry") {
			t.Errorf("message does not say how to approve: %s", msg)
		}
		if got := ConfirmationKeys(msg); !slices.Equal(got, keys) {
			t.Errorf("ConfirmationKeys(%q) = %v, want %v", msg, got, keys)
		}
	}
	if got := ConfirmationKeys("something else"); got != nil {
		t.Errorf("ConfirmationKeys of another message = %v, want none", got)
	}
}

func TestConfirmationOf(t *testing.T) {
	requested := time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)
	app := newApp(nil)
	if c := ConfirmationOf(app); c.Requested != nil || !c.RequestedAt.IsZero() || !c.ApprovedAt.IsZero() {
		t.Errorf("no condition, no annotation: %+v", c)
	}
	app.Annotations = map[string]string{fsync.DeletionApprovedAnnotation: "yesterday"}
	if c := ConfirmationOf(app); !c.ApprovedAt.IsZero() {
		t.Errorf("an approval that is no RFC 3339 time counted: %+v", c)
	}
	app.Annotations[fsync.DeletionApprovedAnnotation] = "2025-03-04T13:00:00+01:00"
	app.Status.Conditions = []v1alpha1.ApplicationCondition{{Type: v1alpha1.ApplicationConditionDeletionConfirmationPending,
		Message: ConfirmationMessage(app, []fsync.Key{oldKey}, false), LastTransitionTime: &metav1.Time{Time: requested}}}
	c := ConfirmationOf(app)
	if !slices.Equal(c.Requested, []fsync.Key{oldKey}) || !c.RequestedAt.Equal(requested) || !c.ApprovedAt.Equal(requested) {
		t.Errorf("ConfirmationOf = %+v", c)
	}
	if c.Approves(oldKey) {
		t.Error("an approval at the very time of the request approves it")
	}
	app.Annotations[fsync.DeletionApprovedAnnotation] = "2025-03-04T12:00:01Z"
	if c := ConfirmationOf(app); !c.Approves(oldKey) || c.Approves(cmKey) {
		t.Errorf("approval a second after the request: approves %v %v, want true false", c.Approves(oldKey), c.Approves(cmKey))
	}
}
