// Package metrics holds Ferry's Prometheus metrics, made once per controller
// process (no package-level state) and handed to the parts that count. Every
// method is safe on a nil *Metrics, so parts run without metrics in tests
// and tools.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the series Ferry's controller exports besides
// controller-runtime's own (docs/observability.md).
type Metrics struct {
	syncTotal         *prometheus.CounterVec
	reconcileDuration *prometheus.HistogramVec
	driftEvents       *prometheus.CounterVec
	renderDuration    *prometheus.HistogramVec
	applyRequests     *prometheus.CounterVec
	gitFetchDuration  *prometheus.HistogramVec
	chartDownloads    *prometheus.HistogramVec
	imageScans        *prometheus.CounterVec
	imagePushes       *prometheus.CounterVec
	notifications     *prometheus.CounterVec
	webhookRequests   *prometheus.CounterVec
	shardMoves        *prometheus.CounterVec
	apiRequests       *prometheus.CounterVec
}

// New makes the metrics; register them with Collectors.
func New() *Metrics {
	return &Metrics{
		syncTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_app_sync_total",
			Help: "Sync operations finished, by Application and phase (Succeeded, Failed, Error)."},
			[]string{"namespace", "name", "project", "phase"}),
		reconcileDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ferry_app_reconcile_duration_seconds",
			Help: "Time to reconcile one Application (compare, and sync when one runs).", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)},
			[]string{"namespace"}),
		driftEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_app_drift_events_total",
			Help: "Managed objects found changed outside Git (before any self-heal)."}, []string{"namespace", "name"}),
		renderDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ferry_render_duration_seconds",
			Help: "Time to render a source at a revision (cache misses only).", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)},
			[]string{"source_type"}),
		applyRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_apply_requests_total",
			Help: "Objects written by syncs, by result: created, configured, unchanged, pruned, failed."}, []string{"action"}),
		gitFetchDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ferry_git_fetch_duration_seconds",
			Help: "Time of Git fetches (and first clones) per repository.", Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)},
			[]string{"repo"}),
		chartDownloads: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "ferry_chart_download_duration_seconds",
			Help:    "Time of downloads from Helm repositories and OCI registries, by kind (index, tags, chart) and repository.",
			Buckets: prometheus.ExponentialBuckets(0.01, 3, 10)}, []string{"kind", "repo"}),
		imageScans: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_image_scans_total",
			Help: "Image repository scans, by result: success, failure."}, []string{"namespace", "name", "result"}),
		imagePushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_image_pushes_total",
			Help: "Commits pushed by image update automations."}, []string{"namespace", "name"}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_notifications_sent_total",
			Help: "Notifications delivered, by trigger, service and result: success, failure."}, []string{"trigger", "service", "result"}),
		webhookRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_webhook_requests_total",
			Help: "Webhook requests, by provider and result."}, []string{"provider", "result"}),
		shardMoves: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_shard_reassignments_total",
			Help: "Applications this replica took from another replica (gained) or gave up (lost) as the membership changed."}, []string{"direction"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ferry_api_requests_total",
			Help: "Requests to the API server of the cluster the controller runs in, by kind: apply, dry-run, status, event, create, update, patch, delete, get, list, watch, discovery, other."},
			[]string{"kind"}),
	}
}

// Collectors lists the metrics, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.syncTotal, m.reconcileDuration, m.driftEvents, m.renderDuration, m.applyRequests,
		m.gitFetchDuration, m.chartDownloads, m.imageScans, m.imagePushes, m.notifications, m.webhookRequests,
		m.shardMoves, m.apiRequests}
}

// Synced counts a finished sync operation.
func (m *Metrics) Synced(namespace, name, project, phase string) {
	if m != nil {
		m.syncTotal.WithLabelValues(namespace, name, project, phase).Inc()
	}
}

// Reconciled observes one Application reconcile.
func (m *Metrics) Reconciled(namespace string, d time.Duration) {
	if m != nil {
		m.reconcileDuration.WithLabelValues(namespace).Observe(d.Seconds())
	}
}

// Drifted counts a drift detection.
func (m *Metrics) Drifted(namespace, name string) {
	if m != nil {
		m.driftEvents.WithLabelValues(namespace, name).Inc()
	}
}

// Rendered observes a render.
func (m *Metrics) Rendered(sourceType string, d time.Duration) {
	if m != nil {
		m.renderDuration.WithLabelValues(sourceType).Observe(d.Seconds())
	}
}

// Applied counts n objects written with the given result.
func (m *Metrics) Applied(action string, n int) {
	if m != nil && n > 0 {
		m.applyRequests.WithLabelValues(action).Add(float64(n))
	}
}

// Fetched observes a Git fetch.
func (m *Metrics) Fetched(repo string, d time.Duration) {
	if m != nil {
		m.gitFetchDuration.WithLabelValues(repo).Observe(d.Seconds())
	}
}

// ChartDownloaded observes a download from a Helm repository or an OCI
// registry: an index, a tag list or a chart archive.
func (m *Metrics) ChartDownloaded(kind, repo string, d time.Duration) {
	if m != nil {
		m.chartDownloads.WithLabelValues(kind, repo).Observe(d.Seconds())
	}
}

// Scanned counts an image scan.
func (m *Metrics) Scanned(namespace, name string, ok bool) {
	if m != nil {
		m.imageScans.WithLabelValues(namespace, name, result(ok)).Inc()
	}
}

// Pushed counts an image automation push.
func (m *Metrics) Pushed(namespace, name string) {
	if m != nil {
		m.imagePushes.WithLabelValues(namespace, name).Inc()
	}
}

// Notified counts a notification delivery.
func (m *Metrics) Notified(trigger, service string, ok bool) {
	if m != nil {
		m.notifications.WithLabelValues(trigger, service, result(ok)).Inc()
	}
}

// Webhook counts a webhook request.
func (m *Metrics) Webhook(provider, outcome string) {
	if m != nil {
		m.webhookRequests.WithLabelValues(provider, outcome).Inc()
	}
}

// Reassigned counts Applications gained from and lost to other replicas.
func (m *Metrics) Reassigned(gained, lost int) {
	if m != nil {
		m.shardMoves.WithLabelValues("gained").Add(float64(gained))
		m.shardMoves.WithLabelValues("lost").Add(float64(lost))
	}
}

// APIRequest counts one request to the local cluster's API server, of a
// kind that says what it costs (a dry-run apply and an apply are both
// PATCHes): what rest_client_requests_total's methods cannot tell apart.
func (m *Metrics) APIRequest(kind string) {
	if m != nil {
		m.apiRequests.WithLabelValues(kind).Inc()
	}
}

func result(ok bool) string {
	if ok {
		return "success"
	}
	return "failure"
}
