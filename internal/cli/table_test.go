package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func sampleApps() *v1alpha1.ApplicationList {
	deployed := metav1.NewTime(time.Date(2026, 11, 25, 18, 0, 0, 0, time.UTC))
	staging := v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "myapp-staging"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: "https://github.com/myorg/gitops-repo.git", TargetRevision: "staging", Path: "apps/staging/myapp"},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "staging"},
			SyncPolicy:  &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true}},
		},
		Status: v1alpha1.ApplicationStatus{
			Sync:   v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCodeSynced, Revision: "0123456789abcdef0123456789abcdef01234567"},
			Health: v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy},
			Resources: []v1alpha1.ResourceStatus{
				{Version: "v1", Kind: "ConfigMap", Namespace: "staging", Name: "myapp-config", Status: v1alpha1.SyncStatusCodeSynced, Health: &v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy}},
				{Group: "apps", Version: "v1", Kind: "Deployment", Namespace: "staging", Name: "myapp", SyncWave: 2, Status: v1alpha1.SyncStatusCodeSynced, Health: &v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy}},
				{Version: "v1", Kind: "Service", Namespace: "staging", Name: "old", Status: v1alpha1.SyncStatusCodeOutOfSync, RequiresPruning: true},
			},
			OperationState: &v1alpha1.OperationState{Phase: v1alpha1.OperationSucceeded, Message: "successfully synced (all tasks run)", StartedAt: deployed},
			History: []v1alpha1.RevisionHistory{
				{ID: 1, Revision: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", DeployedAt: deployed, Source: v1alpha1.ApplicationSource{TargetRevision: "staging"}},
				{ID: 2, Revision: "0123456789abcdef0123456789abcdef01234567", DeployedAt: metav1.NewTime(deployed.Add(time.Hour)), Source: v1alpha1.ApplicationSource{TargetRevision: "staging"}},
			},
		},
	}
	production := v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "myapp-production"},
		Spec: v1alpha1.ApplicationSpec{
			Project:     "default",
			Source:      &v1alpha1.ApplicationSource{RepoURL: "https://github.com/myorg/gitops-repo.git", TargetRevision: "main", Path: "apps/production/myapp"},
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "production"},
		},
		Status: v1alpha1.ApplicationStatus{
			Sync:       v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCodeOutOfSync, Revision: "fedcba9876543210fedcba9876543210fedcba98"},
			Health:     v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusMissing},
			Conditions: []v1alpha1.ApplicationCondition{{Type: v1alpha1.ApplicationConditionUnsupportedField, Message: "spec.source.plugin"}},
		},
	}
	return &v1alpha1.ApplicationList{Items: []v1alpha1.Application{staging, production}}
}

// multiSourceApp is Argo CD's multi-source pattern: a chart, its values
// from Git.
func multiSourceApp() *v1alpha1.Application {
	sources := v1alpha1.ApplicationSources{
		{RepoURL: "https://charts.example.com", Chart: "webapp", TargetRevision: "1.*",
			Helm: &v1alpha1.ApplicationSourceHelm{ValueFiles: []string{"$values/envs/prod/values.yaml"}}},
		{RepoURL: "https://github.com/myorg/gitops-repo.git", TargetRevision: "main", Ref: "values", Name: "values"},
	}
	revisions := []string{"1.4.0", "0123456789abcdef0123456789abcdef01234567"}
	deployed := metav1.NewTime(time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC))
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: "webapp"},
		Spec: v1alpha1.ApplicationSpec{Project: "default", Sources: sources,
			Destination: v1alpha1.ApplicationDestination{Server: "https://kubernetes.default.svc", Namespace: "webapp"}},
		Status: v1alpha1.ApplicationStatus{
			Sync:    v1alpha1.SyncStatus{Status: v1alpha1.SyncStatusCodeSynced, Revisions: revisions},
			Health:  v1alpha1.HealthStatus{Status: v1alpha1.HealthStatusHealthy},
			History: []v1alpha1.RevisionHistory{{ID: 1, Revisions: revisions, Sources: sources, DeployedAt: deployed}},
		},
	}
}

func TestTablesMatchGoldenFiles(t *testing.T) {
	apps := sampleApps()
	multi := multiSourceApp()
	for _, tc := range []struct {
		file  string
		print func(*bytes.Buffer) error
	}{
		{"app-list.txt", func(b *bytes.Buffer) error { return printAppList(b, "", apps) }},
		{"app-list-wide.txt", func(b *bytes.Buffer) error { return printAppList(b, "wide", apps) }},
		{"app-list-name.txt", func(b *bytes.Buffer) error { return printAppList(b, "name", apps) }},
		{"app-get.txt", func(b *bytes.Buffer) error { return printApp(b, &apps.Items[0], "Sync Allowed") }},
		{"app-history.txt", func(b *bytes.Buffer) error { return printHistory(b, apps.Items[0].Status.History, nil) }},
		{"app-get-sources.txt", func(b *bytes.Buffer) error { return printApp(b, multi, "Sync Allowed") }},
		{"app-history-sources.txt", func(b *bytes.Buffer) error { return printHistory(b, multi.Status.History, nil) }},
		{"app-history-wide.txt", func(b *bytes.Buffer) error {
			return printHistory(b, apps.Items[0].Status.History, map[string]string{
				"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa": "Initial staging",
				"0123456789abcdef0123456789abcdef01234567": "Update myapp to 1.2.3"})
		}},
	} {
		var b bytes.Buffer
		if err := tc.print(&b); err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		golden(t, tc.file, b.Bytes())
	}
}
