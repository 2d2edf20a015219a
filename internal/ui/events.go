package ui

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

const (
	// coalesce is the shortest time between two batches to one page: a
	// burst becomes one batch, and a page repaints at most this often.
	coalesce = 250 * time.Millisecond
	// heartbeat keeps proxies from closing an idle stream.
	heartbeat = 20 * time.Second
)

// events streams Application changes as server-sent events: "apps" with a
// JSON array of rows (the list page), or "app" for one Application's page
// (?app=namespace/name), which then reloads its live part as the person.
// Rows come from the watch cache, only of namespaces the person may list.
// since (the page's data-seq) has the stream start with what changed after
// the page was rendered.
func (s *Server) events(w http.ResponseWriter, r *http.Request, ss *session) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	var only *types.NamespacedName
	if a := r.URL.Query().Get("app"); a != "" {
		ns, name, ok := strings.Cut(a, "/")
		if !ok {
			http.Error(w, "app: want namespace/name", http.StatusBadRequest)
			return
		}
		only = &types.NamespacedName{Namespace: ns, Name: name}
	}
	since, err := strconv.ParseUint(r.URL.Query().Get("since"), 10, 64)
	if err != nil && r.URL.Query().Has("since") {
		http.Error(w, "since: want the page's data-seq, a number", http.StatusBadRequest)
		return
	}
	sub := s.feed.subscribe(only)
	defer s.feed.unsubscribe(sub)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()
	// The list page passes its own query: its counts follow the changes.
	q := parseListQuery(r.URL.Query())
	send := func(rows []row) error {
		// Each batch asks again (answers are cached 20 s): a logout, an
		// expired session or a revoked permission stops the stream's
		// rows as it stops the pages.
		if !s.sessions.alive(ss.id) {
			return errSessionEnded
		}
		visible := s.visible(r, ss, "argoproj.io", "applications")
		if only != nil {
			// One Application's page: whoever may get it may follow it.
			visible = func(ns string) bool { return ss.can(r.Context(), "get", "argoproj.io", "applications", ns) }
		}
		if err := writeEvent(w, only != nil, visibleRows(rows, visible)); err != nil || only != nil {
			return err
		}
		return writeJSONEvent(w, "counts", s.index.counts(q, visible))
	}
	if r.URL.Query().Has("since") {
		// What changed between the page's render and this subscription
		// (sent again if it also reached the feed: a row is idempotent).
		if rows := s.index.changedSince(since, only); len(rows) > 0 {
			if err := send(rows); err != nil {
				return
			}
			flusher.Flush()
		}
	}
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
			if !s.sessions.alive(ss.id) {
				return
			}
			fmt.Fprint(w, ": keep-alive\n\n")
		case <-sub.ready:
			if err := send(sub.take()); err != nil {
				return
			}
			time.Sleep(coalesce) // the next changes gather meanwhile
		}
		flusher.Flush()
	}
}

var errSessionEnded = errors.New("the session ended")

func visibleRows(rows []row, visible func(string) bool) []row {
	out := rows[:0]
	for _, r := range rows {
		if visible(r.Namespace) {
			out = append(out, r)
		}
	}
	return out
}

// writeEvent sends the rows the person may see, if any: "apps", or "app"
// on one Application's page.
func writeEvent(w http.ResponseWriter, one bool, rows []row) error {
	if len(rows) == 0 {
		return nil
	}
	name := "apps"
	if one {
		name = "app"
	}
	return writeJSONEvent(w, name, rows)
}

func writeJSONEvent(w http.ResponseWriter, name string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	return err
}
