package ui

import (
	"cmp"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
)

// row is what the Applications list shows of one Application: a few
// strings kept from the watch cache's object, so a page of 1,000 sorts and
// filters without touching the objects.
type row struct {
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Project   string            `json:"project"`
	Repo      string            `json:"repo"`
	Path      string            `json:"path"`
	Target    string            `json:"target"`
	Cluster   string            `json:"cluster"`
	DestNS    string            `json:"destNamespace"`
	Sync      string            `json:"sync"`
	Health    string            `json:"health"`
	Phase     string            `json:"phase"`
	Revision  string            `json:"revision"`
	Auto      bool              `json:"auto"`
	Labels    map[string]string `json:"-"`
	LastSync  time.Time         `json:"-"`
	Deleted   bool              `json:"deleted,omitempty"`
	// Seq orders the changes the index has seen: a page rendered at seq
	// N asks its event stream for what changed after N, so a change
	// between the render and the stream's start is not lost.
	Seq uint64 `json:"-"`
}

func (r row) key() types.NamespacedName {
	return types.NamespacedName{Namespace: r.Namespace, Name: r.Name}
}

// rowOf reads an Application into a row.
func rowOf(app *v1alpha1.Application) row {
	r := row{
		Namespace: app.Namespace, Name: app.Name, Project: cmp.Or(app.Spec.Project, "default"),
		Cluster: cmp.Or(app.Spec.Destination.Name, app.Spec.Destination.Server), DestNS: app.Spec.Destination.Namespace,
		Sync: cmp.Or(string(app.Status.Sync.Status), "Unknown"), Health: cmp.Or(string(app.Status.Health.Status), "Unknown"),
		Revision: appstate.Short(firstLine(app.Status.Sync.Revision)), Labels: app.Labels,
		Auto: app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil,
	}
	if srcs := appstate.Sources(app); len(srcs) > 0 {
		r.Repo, r.Path, r.Target = srcs[0].RepoURL, cmp.Or(srcs[0].Path, srcs[0].Chart), cmp.Or(srcs[0].TargetRevision, "HEAD")
	}
	if st := app.Status.OperationState; st != nil {
		r.Phase = string(st.Phase)
		if st.FinishedAt != nil {
			r.LastSync = st.FinishedAt.Time
		}
	}
	return r
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// index holds the rows of every Application in the watch cache.
type index struct {
	mu   sync.RWMutex
	rows map[types.NamespacedName]row
	seq  uint64 // the last change's Seq
}

func newIndex() *index { return &index{rows: map[types.NamespacedName]row{}} }

func (x *index) put(r row) row {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.seq++
	r.Seq = x.seq
	if r.Deleted {
		// A page rendered before the delete keeps the row until it is
		// reloaded or the stream's next batch; no tombstones are kept.
		delete(x.rows, r.key())
		return r
	}
	x.rows[r.key()] = r
	return r
}

// current is the last change's Seq.
func (x *index) current() uint64 {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.seq
}

// changedSince returns the rows changed after seq (only one Application's,
// when only is set).
func (x *index) changedSince(seq uint64, only *types.NamespacedName) []row {
	x.mu.RLock()
	defer x.mu.RUnlock()
	var out []row
	if only != nil {
		if r, ok := x.rows[*only]; ok && r.Seq > seq {
			out = append(out, r)
		}
		return out
	}
	for _, r := range x.rows {
		if r.Seq > seq {
			out = append(out, r)
		}
	}
	return out
}

// listQuery is the Applications page's query string, parsed.
type listQuery struct {
	Project, Cluster, Namespace, Sync, Health, Label, Text string
	Sort                                                   string // name, sync, health, project, lastSync
	Desc                                                   bool
	Page, Size                                             int
	Tiles                                                  bool
}

// listResult is one page and the counts of the whole filtered set.
type listResult struct {
	Rows             []row
	Total, Pages     int
	Page             int // the page shown: the one asked for, within 1..Pages
	SyncCounts       map[string]int
	HealthCounts     map[string]int
	Projects, Clusts []string
	Seq              uint64 // the index's last change when listed
}

// list filters by what the person may see (visible) and the query, counts
// per status, sorts and cuts one page.
func (x *index) list(q listQuery, visible func(namespace string) bool) listResult {
	res, matched := x.filter(q, visible)
	slices.SortFunc(matched, q.compare)
	res.Total = len(matched)
	res.Pages = max(1, (len(matched)+q.Size-1)/q.Size)
	res.Page = min(max(q.Page, 1), res.Pages)
	lo, hi := (res.Page-1)*q.Size, min(res.Page*q.Size, len(matched))
	res.Rows = matched[lo:hi]
	return res
}

// counts is what a list page's counts show now: the total matching the
// query, and per status; a page's event stream sends them with its rows.
func (x *index) counts(q listQuery, visible func(namespace string) bool) listCounts {
	res, matched := x.filter(q, visible)
	return listCounts{Total: len(matched), Sync: res.SyncCounts, Health: res.HealthCounts}
}

type listCounts struct {
	Total  int            `json:"total"`
	Sync   map[string]int `json:"sync"`
	Health map[string]int `json:"health"`
}

// filter keeps the rows the person may see that match q, counting per
// status before the status filters apply.
func (x *index) filter(q listQuery, visible func(namespace string) bool) (listResult, []row) {
	res := listResult{SyncCounts: map[string]int{}, HealthCounts: map[string]int{}}
	projects, clusters := map[string]bool{}, map[string]bool{}
	x.mu.RLock()
	res.Seq = x.seq
	matched := make([]row, 0, len(x.rows))
	for _, r := range x.rows {
		if !visible(r.Namespace) {
			continue
		}
		projects[r.Project], clusters[r.Cluster] = true, true
		if !q.matchesExceptStatus(r) {
			continue
		}
		res.SyncCounts[r.Sync]++
		res.HealthCounts[r.Health]++
		if (q.Sync == "" || r.Sync == q.Sync) && (q.Health == "" || r.Health == q.Health) {
			matched = append(matched, r)
		}
	}
	x.mu.RUnlock()
	res.Projects, res.Clusts = sortedKeys(projects), sortedKeys(clusters)
	return res, matched
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func (q listQuery) matchesExceptStatus(r row) bool {
	if q.Project != "" && r.Project != q.Project || q.Cluster != "" && r.Cluster != q.Cluster || q.Namespace != "" && r.DestNS != q.Namespace {
		return false
	}
	if q.Label != "" {
		k, v, hasValue := strings.Cut(q.Label, "=")
		got, ok := r.Labels[strings.TrimSpace(k)]
		if !ok || hasValue && got != strings.TrimSpace(v) {
			return false
		}
	}
	if q.Text != "" {
		t := strings.ToLower(q.Text)
		return strings.Contains(strings.ToLower(r.Name), t) || strings.Contains(strings.ToLower(r.Repo), t) ||
			strings.Contains(strings.ToLower(r.Path), t) || strings.Contains(strings.ToLower(r.Namespace), t)
	}
	return true
}

func (q listQuery) compare(a, b row) int {
	var c int
	switch q.Sort {
	case "sync":
		c = strings.Compare(a.Sync, b.Sync)
	case "health":
		c = strings.Compare(a.Health, b.Health)
	case "project":
		c = strings.Compare(a.Project, b.Project)
	case "lastSync":
		c = a.LastSync.Compare(b.LastSync)
	}
	if c == 0 {
		c = cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Namespace, b.Namespace))
	}
	if q.Desc {
		return -c
	}
	return c
}
