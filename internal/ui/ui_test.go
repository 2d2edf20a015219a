package ui

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// rows makes n Applications: app-000… in namespaces team-a and team-b,
// projects p0/p1, every third OutOfSync, every fifth Degraded.
func rows(n int) *index {
	x := newIndex()
	for i := range n {
		r := row{Namespace: "team-a", Name: fmt.Sprintf("app-%03d", i), Project: fmt.Sprintf("p%d", i%2),
			Cluster: "in-cluster", Repo: "https://git.example/repo", Path: fmt.Sprintf("apps/%d", i),
			Sync: "Synced", Health: "Healthy", Labels: map[string]string{"tier": []string{"web", "db"}[i%2]}}
		if i%2 == 1 {
			r.Namespace = "team-b"
		}
		if i%3 == 0 {
			r.Sync = "OutOfSync"
		}
		if i%5 == 0 {
			r.Health = "Degraded"
		}
		x.put(r)
	}
	return x
}

func all(string) bool { return true }

func names(rs []row) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Name
	}
	return out
}

func TestIndexListPagesSortsAndCounts(t *testing.T) {
	x := rows(120)
	res := x.list(listQuery{Size: 50, Page: 3}, all)
	if res.Total != 120 || res.Pages != 3 || len(res.Rows) != 20 || res.Rows[0].Name != "app-100" {
		t.Fatalf("page 3 of 120 by 50: total %d pages %d rows %d first %v", res.Total, res.Pages, len(res.Rows), names(res.Rows[:1]))
	}
	if got := x.list(listQuery{Size: 50, Page: 99}, all); got.Rows[0].Name != "app-100" || got.Page != 3 {
		t.Fatalf("a page past the end shows the last one, got page %d, %v", got.Page, names(got.Rows[:1]))
	}
	if got := x.list(listQuery{Size: 50}, all); got.Page != 1 {
		t.Fatalf("no page asked: page %d, want 1", got.Page)
	}
	desc := x.list(listQuery{Size: 2, Desc: true}, all)
	if got := names(desc.Rows); got[0] != "app-119" || got[1] != "app-118" {
		t.Fatalf("name descending: %v", got)
	}
	if res.SyncCounts["OutOfSync"] != 40 || res.SyncCounts["Synced"] != 80 || res.HealthCounts["Degraded"] != 24 {
		t.Fatalf("counts: sync %v health %v", res.SyncCounts, res.HealthCounts)
	}
	// A status filter narrows the rows, not the counts: the person sees
	// how many of each there are to pick another.
	oos := x.list(listQuery{Size: 500, Sync: "OutOfSync"}, all)
	if oos.Total != 40 || oos.SyncCounts["Synced"] != 80 {
		t.Fatalf("OutOfSync filter: total %d counts %v", oos.Total, oos.SyncCounts)
	}
	if c := x.counts(listQuery{Sync: "OutOfSync"}, all); c.Total != 40 || c.Sync["Synced"] != 80 || c.Health["Degraded"] != 24 {
		t.Fatalf("the stream's counts for the OutOfSync filter: %+v", c)
	}
	bySync := x.list(listQuery{Size: 500, Sort: "sync"}, all)
	if bySync.Rows[0].Sync != "OutOfSync" || bySync.Rows[119].Sync != "Synced" || bySync.Rows[0].Name != "app-000" {
		t.Fatalf("sorted by sync then name: first %+v last %+v", bySync.Rows[0], bySync.Rows[119])
	}
}

func TestIndexListFilters(t *testing.T) {
	x := rows(30)
	for _, tc := range []struct {
		name string
		q    listQuery
		want int
	}{
		{"project", listQuery{Project: "p1"}, 15},
		{"label key", listQuery{Label: "tier"}, 30},
		{"label key=value", listQuery{Label: "tier = db"}, 15},
		{"label missing", listQuery{Label: "team"}, 0},
		{"text in name, any case", listQuery{Text: "APP-02"}, 10},
		{"text in path", listQuery{Text: "apps/7"}, 1},
		{"text in namespace", listQuery{Text: "team-b"}, 15},
		{"destination namespace", listQuery{Namespace: "nowhere"}, 0},
		{"cluster", listQuery{Cluster: "in-cluster", Health: "Degraded"}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Size = 500
			if got := x.list(tc.q, all).Total; got != tc.want {
				t.Fatalf("%+v matched %d, want %d", tc.q, got, tc.want)
			}
		})
	}
}

func TestIndexListShowsOnlyVisibleNamespaces(t *testing.T) {
	x := rows(30)
	res := x.list(listQuery{Size: 500}, func(ns string) bool { return ns == "team-a" })
	if res.Total != 15 {
		t.Fatalf("team-a only: %d rows", res.Total)
	}
	for _, r := range res.Rows {
		if r.Namespace != "team-a" {
			t.Fatalf("a row of %s shown", r.Namespace)
		}
	}
	if n := res.SyncCounts["OutOfSync"] + res.SyncCounts["Synced"]; n != 15 {
		t.Fatalf("counts include hidden Applications: %v", res.SyncCounts)
	}
	x.put(row{Namespace: "team-a", Name: "app-000", Deleted: true})
	if got := x.list(listQuery{Size: 500}, all).Total; got != 29 {
		t.Fatalf("after a delete: %d rows", got)
	}
}

// A burst of changes becomes one batch with the latest row of each
// Application, however many changes came, and publishing never blocks.
func TestFeedCoalescesABurst(t *testing.T) {
	f := newFeed()
	list := f.subscribe(nil)
	one := f.subscribe(&types.NamespacedName{Namespace: "team-a", Name: "app-007"})
	for round := range 10 {
		for i := range 1000 {
			f.publish(row{Namespace: "team-a", Name: fmt.Sprintf("app-%03d", i), Revision: fmt.Sprint(round)})
		}
	}
	select {
	case <-list.ready:
	default:
		t.Fatal("the list subscriber was not told")
	}
	batch := list.take()
	if len(batch) != 1000 {
		t.Fatalf("10,000 changes to 1,000 Applications: a batch of %d rows", len(batch))
	}
	for _, r := range batch {
		if r.Revision != "9" {
			t.Fatalf("%s: revision %s, want the latest (9)", r.Name, r.Revision)
		}
	}
	if again := list.take(); len(again) != 0 {
		t.Fatalf("take twice: %d rows the second time", len(again))
	}
	if got := one.take(); len(got) != 1 || got[0].Name != "app-007" {
		t.Fatalf("one Application's page got %v", names(got))
	}
	f.unsubscribe(list)
	f.publish(row{Namespace: "team-a", Name: "app-001"})
	if got := list.take(); len(got) != 0 {
		t.Fatalf("an unsubscribed page got %v", names(got))
	}
}

func TestSafeNext(t *testing.T) {
	for next, want := range map[string]string{
		"/applications/argocd/x?view=tiles": "/applications/argocd/x?view=tiles",
		"/clusters":                         "/clusters",
		"":                                  "/applications",
		"https://evil.example/":             "/applications",
		"//evil.example/":                   "/applications",
		"/\\evil.example/":                  "/applications",
		"/\t/evil.example/":                 "/applications",
		"/\n/evil.example/":                 "/applications",
		"javascript:alert(1)":               "/applications",
	} {
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
}

func TestLoopbackHost(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost:8080": true, "[::1]:8080": true, "127.0.0.1": true, "localhost": true,
		"evil.example:8080": false, "10.0.0.1:8080": false, "localhost.evil.example": false, "[::2]:80": false,
	} {
		if got := loopbackHost(host); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestCheckCSRF(t *testing.T) {
	ss := &session{csrf: "token-1"}
	post := func(form url.Values, header map[string]string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/applications/argocd/x/sync", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for k, v := range header {
			r.Header.Set(k, v)
		}
		return r
	}
	for _, tc := range []struct {
		name    string
		r       *http.Request
		wantErr string
	}{
		{"form field", post(url.Values{"csrf": {"token-1"}}, nil), ""},
		{"header", post(nil, map[string]string{"X-CSRF-Token": "token-1"}), ""},
		{"same origin", post(url.Values{"csrf": {"token-1"}}, map[string]string{"Sec-Fetch-Site": "same-origin"}), ""},
		{"none", post(nil, nil), "CSRF"},
		{"wrong", post(url.Values{"csrf": {"token-2"}}, nil), "CSRF"},
		{"another session's", post(url.Values{"csrf": {"token-"}}, nil), "CSRF"},
		{"cross-site with the token", post(url.Values{"csrf": {"token-1"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}), "cross-site"},
		{"same-site with the token", post(url.Values{"csrf": {"token-1"}}, map[string]string{"Sec-Fetch-Site": "same-site"}), "cross-site"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkCSRF(tc.r, ss)
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("checkCSRF: %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

// A refusal wrapped on its way up keeps the API server's status code.
func TestStatusOfWrappedAPIError(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "argoproj.io", Resource: "applications"}, "x", fmt.Errorf("no"))
	if got := statusOf(fmt.Errorf("sync of argocd/x: %w", forbidden)); got != http.StatusForbidden {
		t.Fatalf("wrapped Forbidden: %d", got)
	}
	if got := statusOf(fmt.Errorf("history id %q is not a number", "x")); got != http.StatusBadRequest {
		t.Fatalf("a plain error: %d", got)
	}
}

// A page rendered at seq N gets what changed after N, so a change between
// the render and its event stream's start is not lost.
func TestIndexChangedSince(t *testing.T) {
	x := rows(10)
	seq := x.list(listQuery{Size: 50}, all).Seq
	if seq != x.current() || seq != 10 {
		t.Fatalf("after 10 puts: list seq %d, current %d", seq, x.current())
	}
	if got := x.changedSince(seq, nil); len(got) != 0 {
		t.Fatalf("nothing changed, got %v", names(got))
	}
	x.put(row{Namespace: "team-b", Name: "app-003", Sync: "Synced"})
	x.put(row{Namespace: "team-a", Name: "app-004", Sync: "Synced"})
	if got := names(x.changedSince(seq, nil)); len(got) != 2 {
		t.Fatalf("two changed, got %v", got)
	}
	one := types.NamespacedName{Namespace: "team-b", Name: "app-003"}
	if got := x.changedSince(seq, &one); len(got) != 1 || got[0].Name != "app-003" {
		t.Fatalf("one Application's page: %v", names(got))
	}
	if got := x.changedSince(x.current(), &one); len(got) != 0 {
		t.Fatalf("nothing after the last change, got %v", names(got))
	}
}

func TestTemplatesParse(t *testing.T) {
	if _, err := parsePages(); err != nil {
		t.Fatal(err)
	}
}
