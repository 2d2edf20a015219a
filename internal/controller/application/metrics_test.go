package application_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// scrape reads the controller's metrics endpoint.
func scrape(ctx context.Context, t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, env.MetricsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("scrape %s: %v", env.MetricsURL, err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	return families
}

// value sums the series of family that carry every label given (a
// histogram counts its observations); ok is false when there is none.
func value(families map[string]*dto.MetricFamily, family string, labels map[string]string) (float64, bool) {
	f, ok := families[family]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		match := 0
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; ok && v == lp.GetValue() {
				match++
			}
		}
		if match != len(labels) {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum, found
}

// TestMetricsAfterSync scrapes the endpoint after a sync: the Application's
// info series with its labels, its sync counted, reconciles, renders,
// applies, Git operations, the cluster's connection and controller-runtime's
// own series.
func TestMetricsAfterSync(t *testing.T) {
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1"), "cms/b.yaml": configMap("b", "1")})
	head := repo.commit("two config maps")
	app := newApp("metrics-app", "metrics", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	create(t, app)
	waitApp(t, app, "Synced", syncedAt(head))

	type want struct {
		family string
		labels map[string]string
		min    float64
	}
	checks := []want{
		{"ferry_app_info", map[string]string{"namespace": "argocd", "name": "metrics-app", "project": "default", "repo": repo.url(),
			"dest_namespace": "metrics", "sync_status": "Synced", "autosync_enabled": "true"}, 1},
		{"ferry_app_sync_total", map[string]string{"namespace": "argocd", "name": "metrics-app", "phase": "Succeeded"}, 1},
		{"ferry_app_reconcile_duration_seconds", map[string]string{"namespace": "argocd"}, 1},
		{"ferry_render_duration_seconds", map[string]string{"source_type": "Directory"}, 1},
		{"ferry_apply_requests_total", map[string]string{"action": "created"}, 2},
		{"ferry_git_operations_total", map[string]string{"operation": "snapshot"}, 1},
		{"ferry_git_fetch_duration_seconds", nil, 1},
		{"ferry_cluster_connection_status", map[string]string{"k8s_version": "v1.37.2"}, 1},
		{"controller_runtime_reconcile_total", map[string]string{"controller": "application"}, 1},
	}
	eventually(t, 30*time.Second, "metrics after a sync", func(ctx context.Context) (bool, string) {
		families := scrape(ctx, t)
		var missing []string
		for _, c := range checks {
			if v, ok := value(families, c.family, c.labels); !ok || v < c.min {
				missing = append(missing, fmt.Sprintf("%s%v = %v (found %v), want ≥ %v", c.family, c.labels, v, ok, c.min))
			}
		}
		return len(missing) == 0, strings.Join(missing, "; ")
	})
}
