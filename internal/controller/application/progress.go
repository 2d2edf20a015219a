package application

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// progressInterval bounds how often a running sync writes its progress.
const progressInterval = 250 * time.Millisecond

// progress shows a requested sync as it runs: phase Running at once, then
// each resource's result in status.operationState.syncResult, at most every
// progressInterval, for `ferry app sync` or `kubectl get application -w` to
// follow. Automated syncs skip it: nobody asked, and every write costs.
type progress struct {
	ctx   context.Context
	c     client.Client
	app   *v1alpha1.Application
	state v1alpha1.OperationState

	mu       sync.Mutex
	results  fsync.Results
	last     time.Time
	rv       string      // the Application's resourceVersion after the last write
	revision string      // the commit synced, once resolved
	stop     bool        // someone set the operation Terminating
	pending  *time.Timer // writes what report held back, once the interval passed
	closed   bool
}

func (r *Reconciler) startProgress(ctx context.Context, app *v1alpha1.Application, state *v1alpha1.OperationState) *progress {
	p := &progress{ctx: ctx, c: r.direct, app: app.DeepCopy(), state: *state.DeepCopy(), rv: app.ResourceVersion}
	p.write()
	return p
}

// report records one outcome, replacing an earlier one of the same object
// and phase (a hook Running, then Succeeded); safe for concurrent use.
func (p *progress) report(o fsync.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results.Record(o)
	if wait := progressInterval - time.Since(p.last); wait <= 0 {
		p.write()
	} else if p.pending == nil {
		// Held back, not dropped: a sync that then waits on a wave must
		// still show what it waits on.
		p.pending = time.AfterFunc(wait, func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.pending = nil
			if !p.closed {
				p.write()
			}
		})
	}
}

// close ends the reports, before the sync's final state is written.
func (p *progress) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	if p.pending != nil {
		p.pending.Stop()
	}
}

// terminated reports whether a write found the operation Terminating.
func (p *progress) terminated() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stop
}

// resolved records the commit the sync runs (the operation may name a
// branch) and tells the notifier the sync is Running: on-sync-running is
// told now, not after the reconcile, when the sync is over, and its
// oncePer (the sync result's revision) is the commit, as in Argo CD.
func (p *progress) resolved(n Notifier, revision string) {
	p.mu.Lock()
	p.revision = revision
	running := p.app.DeepCopy()
	running.Status.OperationState = p.runningState()
	p.mu.Unlock()
	if n != nil {
		n.Observe(p.ctx, running, nil)
	}
}

// runningState is the operation state as reported while it runs; the
// caller holds mu (or no other goroutine has p yet).
func (p *progress) runningState() *v1alpha1.OperationState {
	st := p.state.DeepCopy()
	rev, revs := appstate.StatusRevisions(p.app, p.revision)
	st.SyncResult = &v1alpha1.SyncOperationResult{Resources: resourceResults(p.results.List()), Revision: rev, Revisions: revs}
	if s := st.Operation.Sync; s != nil && p.revision == "" {
		st.SyncResult.Revision, st.SyncResult.Revisions = s.Revision, s.Revisions
	}
	return st
}

// write patches the running state into status; the caller holds mu (or no
// other goroutine has p yet). A failed write only loses a progress report.
func (p *progress) write() {
	p.last = time.Now()
	st := p.runningState()
	whole, err := operationStateJSON(st)
	if err != nil {
		return
	}
	for attempt := 0; attempt < 2 && !p.stop; attempt++ {
		// With the resourceVersion last seen as a precondition: a progress
		// report must never overwrite a terminate request.
		data, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": p.rv},
			"status": map[string]any{"operationState": whole}})
		if err != nil {
			return
		}
		obj := p.app.DeepCopy()
		err = p.c.Status().Patch(p.ctx, obj, client.RawPatch(types.MergePatchType, data))
		if err == nil {
			p.rv = obj.ResourceVersion
			return
		}
		if !apierrors.IsConflict(err) {
			ctrl.LoggerFrom(p.ctx).Info("could not report sync progress", "application", appKey(p.app), "error", err.Error())
			return
		}
		fresh := &v1alpha1.Application{}
		if err := p.c.Get(p.ctx, appKey(p.app), fresh); err != nil {
			return
		}
		p.rv = fresh.ResourceVersion
		if s := fresh.Status.OperationState; s != nil && s.Phase == v1alpha1.OperationTerminating {
			p.stop = true
		}
	}
}

// operationStateJSON is st as the JSON object of a merge patch that
// replaces the operation state the server holds: every field st leaves out
// (omitempty) is set to null, in nested objects too. A merge patch removes
// only what it sets to null, so st sent as plain JSON would keep the last
// operation's values in the fields this one leaves empty: its resource
// results under a sync that failed before applying anything, its
// initiatedBy.automated under a rollback someone asked for, its retryCount
// under a new revision's first try, its finishedAt and message under a
// sync still running. (Entries of map fields, such as a kustomize source's
// commonLabels, are still merged: nothing here knows the server's keys.)
func operationStateJSON(st *v1alpha1.OperationState) (map[string]any, error) {
	data, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	m := map[string]any{}
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, err
	}
	nullOmitted(m, reflect.TypeFor[v1alpha1.OperationState]())
	return m, nil
}

// nullOmitted sets to null each field of the struct type t that m, the JSON
// object of a t, lacks, and recurses into the struct fields m has. Values
// that marshal to something other than an object (metav1.Time, lists) are
// replaced whole by a merge patch anyway.
func nullOmitted(m map[string]any, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue // no inlined or unnamed fields in the operation state
		}
		v, ok := m[name]
		if !ok {
			m[name] = nil
			continue
		}
		if sub, isObject := v.(map[string]any); isObject {
			nullOmitted(sub, f.Type)
		}
	}
}
