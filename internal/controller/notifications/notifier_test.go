package notifications

import (
	"testing"

	"github.com/ferrycd/ferry/internal/controller/application"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

func TestDriftOf(t *testing.T) {
	if DriftOf("r1", nil) != nil {
		t.Error("no drift is nil")
	}
	d := DriftOf("r1", []application.Drift{
		{Key: fsync.Key{Kind: "ConfigMap", Namespace: "ns", Name: "b"}, Manager: "kubectl-edit", ResourceVersion: "9"},
		{Key: fsync.Key{Kind: "ConfigMap", Namespace: "ns", Name: "a"}, Manager: "kubectl-edit", ResourceVersion: "7"},
		{Key: fsync.Key{Kind: "Deployment", Namespace: "ns", Name: "c"}, ResourceVersion: "3"},
	})
	if d.Key != "r1|ConfigMap ns/a@7,ConfigMap ns/b@9,Deployment ns/c@3" {
		t.Errorf("Key = %q", d.Key)
	}
	if len(d.Managers) != 1 || d.Managers[0] != "kubectl-edit" || len(d.Objects) != 3 || d.Objects[0] != "ConfigMap ns/b" {
		t.Errorf("drift = %+v", d)
	}
}
