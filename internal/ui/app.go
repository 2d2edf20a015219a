package ui

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/appview"
	"github.com/ferrycd/ferry/internal/redact"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// appData is an Application's page.
type appData struct {
	App        *v1alpha1.Application
	Key        types.NamespacedName
	Row        row
	Tree       []appview.Node
	TreeError  string
	Waves      []waveProgress
	History    []historyEntry
	Events     []eventLine
	CanUpdate  bool
	Running    bool
	Window     string
	Resources  []resourceChoice
	Conditions []v1alpha1.ApplicationCondition
	Base       string // the Application's path in the UI
	// Seq is the watch cache's last change before the page was read: the
	// page's event stream starts after it.
	Seq uint64
}

// waveProgress is one phase and wave of the current (or last) sync.
type waveProgress struct {
	Phase   string
	Wave    int64
	Results []v1alpha1.ResourceResult
	Done    bool
}

type historyEntry struct {
	v1alpha1.RevisionHistory
	Revision string
	Commit   appview.Commit
	Current  bool
}

type eventLine struct {
	Type, Reason, Object, Message string
	When                          time.Time
	Count                         int32
}

// resourceChoice is a managed resource the sync form can select.
type resourceChoice struct {
	Value, Label string
}

func appKey(r *http.Request) types.NamespacedName {
	return types.NamespacedName{Namespace: r.PathValue("ns"), Name: r.PathValue("name")}
}

// getApp reads the Application as the person: a 403 or 404 is theirs.
func getApp(ctx context.Context, c client.Client, key types.NamespacedName) (*v1alpha1.Application, error) {
	app := &v1alpha1.Application{}
	if err := c.Get(ctx, key, app); err != nil {
		return nil, err
	}
	return app, nil
}

func (s *Server) appPage(w http.ResponseWriter, r *http.Request, ss *session) {
	d, err := s.appData(r, ss, true)
	if err != nil {
		s.apiError(w, ss, "Application "+appKey(r).String(), err)
		return
	}
	s.page(w, ss, "app", d.Key.Name, "apps", d)
}

// appLive is the part of the page live updates replace: status, the
// sync's progress, the tree.
func (s *Server) appLive(w http.ResponseWriter, r *http.Request, ss *session) {
	d, err := s.appData(r, ss, false)
	if err != nil {
		http.Error(w, err.Error(), statusOf(err))
		return
	}
	s.render(w, http.StatusOK, "app", "live", view{User: ss.user, CSRF: ss.csrf, Data: d})
}

func (s *Server) appData(r *http.Request, ss *session, full bool) (*appData, error) {
	ctx := r.Context()
	key := appKey(r)
	seq := s.index.current() // before the read: a change after it reloads the page's live part
	app, err := getApp(ctx, ss.client, key)
	if err != nil {
		return nil, err
	}
	d := &appData{App: app, Key: key, Row: rowOf(app), Conditions: app.Status.Conditions,
		Waves: wavesOf(app.Status.OperationState), Seq: seq, Base: "/applications/" + key.Namespace + "/" + key.Name}
	d.Running = app.Status.OperationState != nil && app.Status.OperationState.Phase == v1alpha1.OperationRunning
	// The actions patch the Application (as Argo CD's API server writes
	// an operation): patch is the verb that decides whether they show.
	d.CanUpdate = ss.can(ctx, "patch", "argoproj.io", "applications", key.Namespace)
	if d.Tree, err = appview.Tree(ctx, ss.client, app); err != nil {
		d.TreeError = err.Error()
	}
	for _, res := range app.Status.Resources {
		if res.Hook {
			continue
		}
		d.Resources = append(d.Resources, resourceChoice{
			Value: res.Group + ":" + res.Kind + ":" + res.Namespace + "/" + res.Name,
			Label: res.Kind + "/" + res.Name,
		})
	}
	// History and events are part of the live part: a sync that ends
	// adds an entry and an event.
	d.History = s.history(ctx, ss, app)
	d.Events = appEvents(ctx, ss.client, app)
	if full {
		d.Window = appview.SyncWindowState(ctx, ss.client, app)
	}
	return d, nil
}

// wavesOf groups the operation's results by phase and wave, in the order
// a sync runs them.
func wavesOf(st *v1alpha1.OperationState) []waveProgress {
	if st == nil || st.SyncResult == nil {
		return nil
	}
	order := map[string]int{"PreSync": 0, "Sync": 1, "PostSync": 2, "SyncFail": 3}
	var out []waveProgress
	for _, res := range st.SyncResult.Resources {
		phase := cmp.Or(string(res.SyncPhase), "Sync")
		i := slices.IndexFunc(out, func(w waveProgress) bool { return w.Phase == phase && w.Wave == res.SyncWave })
		if i < 0 {
			out = append(out, waveProgress{Phase: phase, Wave: res.SyncWave, Done: true})
			i = len(out) - 1
		}
		out[i].Results = append(out[i].Results, res)
		if !resultDone(res) {
			out[i].Done = false
		}
	}
	slices.SortStableFunc(out, func(a, b waveProgress) int {
		return cmp.Or(cmp.Compare(order[a.Phase], order[b.Phase]), cmp.Compare(a.Wave, b.Wave))
	})
	return out
}

// resultDone says whether one result of a sync has finished: a hook when
// its phase is final, an object once applied (or refused).
func resultDone(res v1alpha1.ResourceResult) bool {
	switch res.HookPhase {
	case "":
		return res.Status != ""
	case v1alpha1.OperationSucceeded, v1alpha1.OperationFailed, v1alpha1.OperationError:
		return true
	}
	return false
}

func (s *Server) history(ctx context.Context, ss *session, app *v1alpha1.Application) []historyEntry {
	commits := ss.commits(app, func() map[string]appview.Commit {
		c, _ := appview.Commits(ctx, ss.client, app, s.opts.Home)
		return c
	})
	out := make([]historyEntry, 0, len(app.Status.History))
	for i := len(app.Status.History) - 1; i >= 0; i-- {
		h := app.Status.History[i]
		rev := h.Revision
		if len(h.Revisions) > 0 {
			rev = strings.Join(h.Revisions, ", ")
		}
		out = append(out, historyEntry{RevisionHistory: h, Revision: rev, Commit: commits[h.Revision],
			Current: i == len(app.Status.History)-1})
	}
	return out
}

// appEvents are the Application's events, newest first, read as the person.
func appEvents(ctx context.Context, c client.Client, app *v1alpha1.Application) []eventLine {
	return eventsOf(ctx, c, app.Namespace, app.Name, "Application")
}

func eventsOf(ctx context.Context, c client.Client, namespace, name, kind string) []eventLine {
	list := &corev1.EventList{}
	if err := c.List(ctx, list, client.InNamespace(namespace),
		client.MatchingFields{"involvedObject.name": name, "involvedObject.kind": kind}); err != nil {
		return nil
	}
	out := make([]eventLine, 0, len(list.Items))
	for _, e := range list.Items {
		when := e.LastTimestamp.Time
		if when.IsZero() {
			when = e.EventTime.Time
		}
		out = append(out, eventLine{Type: e.Type, Reason: e.Reason, Object: e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name,
			Message: redact.Text(e.Message), When: when, Count: e.Count})
	}
	slices.SortFunc(out, func(a, b eventLine) int { return b.When.Compare(a.When) })
	return out[:min(len(out), 50)]
}

// --- one resource: diff, manifest, events ---

type resourceData struct {
	Key             types.NamespacedName
	Title           string
	Diffs           []resourceDiff
	Manifest        string
	Events          []eventLine
	Error           string
	NothingToChange bool
}

type resourceDiff struct {
	Name, Note, Text string
}

func (s *Server) resourcePage(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	key := appKey(r)
	q := r.URL.Query()
	want := fsync.Key{Group: q.Get("group"), Kind: q.Get("kind"), Namespace: q.Get("namespace"), Name: q.Get("name")}
	d := resourceData{Key: key, Title: "Differences"}
	if want.Kind != "" {
		d.Title = want.Kind + "/" + want.Name
		d.Manifest, d.Error = liveManifest(ctx, ss.client, want, q.Get("version"))
		d.Events = eventsOf(ctx, ss.client, want.Namespace, want.Name, want.Kind)
	}
	app, cmpResult, err := appview.Compare(ctx, ss.client, key, appview.DiffOptions{Home: s.opts.Home,
		RestConfig: ss.restConfig, Desired: s.opts.Desired})
	if err != nil {
		if app == nil && apierrors.IsForbidden(err) {
			s.apiError(w, ss, "Application "+key.String(), err)
			return
		}
		d.Error = cmp.Or(d.Error, "The comparison failed: "+redact.Text(err.Error()))
	} else {
		d.Diffs = diffsOf(cmpResult, app, want)
		d.NothingToChange = len(d.Diffs) == 0
	}
	s.page(w, ss, "resource", d.Title, "apps", d)
}

// liveManifest is the live object as YAML, Secret values masked.
func liveManifest(ctx context.Context, c client.Client, k fsync.Key, version string) (string, string) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: k.Group, Version: cmp.Or(version, "v1"), Kind: k.Kind})
	if err := c.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, u); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "Not in the cluster (a sync creates it)."
		}
		return "", "Cannot read it: " + err.Error()
	}
	text, err := appview.DisplayYAML(u)
	if err != nil {
		return "", err.Error()
	}
	return text, ""
}

// diffsOf is what a sync would change (appview.Differences, as `ferry app
// diff` lists it): for one resource, or (want empty) every one that differs.
func diffsOf(c *appstate.Comparison, app *v1alpha1.Application, want fsync.Key) []resourceDiff {
	var out []resourceDiff
	for _, d := range appview.Differences(c, app) {
		if want.Kind != "" && d.Key != want {
			continue
		}
		rd := resourceDiff{Name: d.Key.String(), Note: redact.Text(d.Note)}
		if !d.Refused() {
			text, err := appview.Unified(rd.Name, d.Live, d.Desired)
			if err != nil {
				rd.Note = err.Error()
			}
			rd.Text = text
		}
		out = append(out, rd)
	}
	return out
}

// --- actions ---

// appAction starts what the person asked, with their client: the API
// server (RBAC, admission) decides, and its refusal is shown as it is.
func (s *Server) appAction(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx := r.Context()
	key := appKey(r)
	var err error
	switch action := r.PathValue("action"); action {
	case "refresh":
		err = appview.Refresh(ctx, ss.client, key, "normal")
	case "hard-refresh":
		ss.forgetCommits() // a commit that could not be read is tried again
		err = appview.Refresh(ctx, ss.client, key, "hard")
	case "terminate":
		err = appview.Terminate(ctx, ss.client, key)
	case "sync":
		err = s.sync(ctx, r, ss, key)
	case "rollback":
		err = s.rollback(ctx, r, ss, key)
	default:
		http.Error(w, fmt.Sprintf("no action %q", action), http.StatusNotFound)
		return
	}
	if err != nil {
		s.apiError(w, ss, r.PathValue("action")+" of "+key.String(), err)
		return
	}
	http.Redirect(w, r, "/applications/"+key.Namespace+"/"+key.Name, http.StatusSeeOther)
}

func (s *Server) sync(ctx context.Context, r *http.Request, ss *session, key types.NamespacedName) error {
	app, err := getApp(ctx, ss.client, key)
	if err != nil {
		return err
	}
	var specs []string
	for _, v := range r.PostForm["resource"] {
		// The form's values are GROUP:KIND:NAMESPACE/NAME already.
		specs = append(specs, v)
	}
	resources, err := appview.ParseResources(specs)
	if err != nil {
		return err
	}
	op, err := appview.SyncOperation(appview.SyncRequest{App: app, Revision: strings.TrimSpace(r.PostFormValue("revision")),
		Prune: r.PostFormValue("prune") != "", DryRun: r.PostFormValue("dryRun") != "", Resources: resources, Username: ss.user})
	if err != nil {
		return err
	}
	return appview.StartOperation(ctx, ss.client, key, op)
}

func (s *Server) rollback(ctx context.Context, r *http.Request, ss *session, key types.NamespacedName) error {
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil {
		return fmt.Errorf("history id %q is not a number", r.PostFormValue("id"))
	}
	app, err := getApp(ctx, ss.client, key)
	if err != nil {
		return err
	}
	op, err := appview.RollbackOperation(app, id, ss.user, r.PostFormValue("prune") != "")
	if err != nil {
		return err
	}
	return appview.StartOperation(ctx, ss.client, key, op)
}

// errorData is a refusal, shown with the API server's own words.
type errorData struct {
	What, Message string
	Status        int
}

func statusOf(err error) int {
	var st apierrors.APIStatus
	if errors.As(err, &st) && st.Status().Code != 0 {
		return int(st.Status().Code)
	}
	return http.StatusBadRequest
}

func (s *Server) apiError(w http.ResponseWriter, ss *session, what string, err error) {
	code := statusOf(err)
	s.render(w, code, "error", "layout", view{Title: "Refused", Nav: "apps", User: ss.user, CSRF: ss.csrf, Local: s.opts.Local,
		Data: errorData{What: what, Message: redact.Text(err.Error()), Status: code}})
}
