package appview

import (
	"reflect"
	"strings"
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestParseResources(t *testing.T) {
	got, err := ParseResources([]string{"apps:Deployment:web", ":ConfigMap:team/cfg"})
	if err != nil {
		t.Fatal(err)
	}
	want := []v1alpha1.SyncOperationResource{
		{Group: "apps", Kind: "Deployment", Name: "web"},
		{Kind: "ConfigMap", Namespace: "team", Name: "cfg"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ParseResources = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"Deployment:web", "apps::web", "apps:Deployment:", "a:b:c:d"} {
		if _, err := ParseResources([]string{bad}); err == nil || !strings.Contains(err.Error(), "want GROUP:KIND:NAME") {
			t.Errorf("ParseResources(%q): err = %v, want a refusal naming the form", bad, err)
		}
	}
}

func oneSource() *v1alpha1.Application {
	app := &v1alpha1.Application{}
	app.Name = "web"
	app.Spec.Source = &v1alpha1.ApplicationSource{RepoURL: "https://git.example.com/web", Path: "deploy", TargetRevision: "main"}
	return app
}

func twoSources() *v1alpha1.Application {
	app := &v1alpha1.Application{}
	app.Name = "web"
	app.Spec.Sources = v1alpha1.ApplicationSources{
		{RepoURL: "https://git.example.com/web", Path: "deploy"},
		{RepoURL: "https://charts.example.com", Chart: "db", TargetRevision: "1.x"},
	}
	return app
}

func TestSyncOperationRefusesRevisionsThatDoNotFit(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  SyncRequest
		want string
	}{
		{"positions without revisions", SyncRequest{Revisions: []string{"a"}, Positions: []int64{1, 2}}, "give one position per revision"},
		{"both revision fields", SyncRequest{Revision: "a", Revisions: []string{"b"}}, "give one of them"},
		{"--revision for several sources", SyncRequest{App: twoSources(), Revision: "a"}, "it has 2 sources"},
		{"--revisions for one source", SyncRequest{App: oneSource(), Revisions: []string{"a"}}, "it has one source"},
		{"more revisions than sources", SyncRequest{App: twoSources(), Revisions: []string{"a", "b", "c"}}, "3 --revisions for 2 sources"},
		{"position out of range", SyncRequest{App: twoSources(), Revisions: []string{"a"}, Positions: []int64{3}}, "it has sources 1 to 2"},
		{"position zero", SyncRequest{App: twoSources(), Revisions: []string{"a"}, Positions: []int64{0}}, "--source-positions 0"},
	} {
		if _, err := SyncOperation(tc.req); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestSyncOperation(t *testing.T) {
	res := []v1alpha1.SyncOperationResource{{Kind: "ConfigMap", Name: "cfg"}}
	op, err := SyncOperation(SyncRequest{App: twoSources(), Revisions: []string{"2.0.0"}, Positions: []int64{2},
		Prune: true, DryRun: true, Resources: res, Username: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	want := v1alpha1.Operation{
		Sync:        &v1alpha1.SyncOperation{Revisions: []string{"2.0.0"}, SourcePositions: []int64{2}, Prune: true, DryRun: true, Resources: res},
		InitiatedBy: v1alpha1.OperationInitiator{Username: "alice"},
	}
	if !reflect.DeepEqual(op, want) {
		t.Errorf("SyncOperation = %+v, want %+v", op, want)
	}
	// Without an Application only the fields themselves are checked.
	if _, err := SyncOperation(SyncRequest{Revision: "abc"}); err != nil {
		t.Errorf("SyncOperation without an Application: %v", err)
	}
}

func withHistory(app *v1alpha1.Application, ids ...int64) *v1alpha1.Application {
	for _, id := range ids {
		app.Status.History = append(app.Status.History, v1alpha1.RevisionHistory{ID: id, Revision: "rev" + string(rune('0'+id)),
			Source: *app.Spec.Source})
	}
	return app
}

func TestRollbackOperation(t *testing.T) {
	app := withHistory(oneSource(), 0, 1, 2)
	for _, tc := range []struct {
		id   int64
		want string
	}{{PreviousEntry, "rev1"}, {0, "rev0"}, {2, "rev2"}} {
		op, err := RollbackOperation(app, tc.id, "alice", true)
		if err != nil {
			t.Fatalf("id %d: %v", tc.id, err)
		}
		if op.Sync.Revision != tc.want || !op.Sync.Prune || op.InitiatedBy.Username != "alice" {
			t.Errorf("id %d: operation %+v (sync %+v), want revision %s, prune, by alice", tc.id, op, op.Sync, tc.want)
		}
	}
}

func TestRollbackOperationRefusals(t *testing.T) {
	automated := withHistory(oneSource(), 1, 2)
	automated.Spec.SyncPolicy = &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{}}
	moved := withHistory(oneSource(), 1, 2)
	moved.Spec.Source.Path = "elsewhere"
	for _, tc := range []struct {
		name string
		app  *v1alpha1.Application
		id   int64
		want string
	}{
		{"automated", automated, 1, "rollback cannot be initiated when auto-sync is enabled"},
		{"no previous", withHistory(oneSource(), 1), PreviousEntry, "has no previous deployment"},
		{"unknown id", withHistory(oneSource(), 1, 2), 7, "has no history entry 7"},
		{"other sources", moved, 1, "deployed from other sources"},
	} {
		if _, err := RollbackOperation(tc.app, tc.id, "alice", false); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
