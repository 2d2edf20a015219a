package application

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
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

	mu      sync.Mutex
	results []fsync.Outcome
	last    time.Time
}

func (r *Reconciler) startProgress(ctx context.Context, app *v1alpha1.Application, state *v1alpha1.OperationState) *progress {
	p := &progress{ctx: ctx, c: r.direct, app: app.DeepCopy(), state: *state.DeepCopy()}
	p.write()
	return p
}

// report records one outcome; safe for concurrent use.
func (p *progress) report(o fsync.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results = append(p.results, o)
	if time.Since(p.last) >= progressInterval {
		p.write()
	}
}

// write patches the running state into status; the caller holds mu (or no
// other goroutine has p yet). A failed write only loses a progress report.
func (p *progress) write() {
	p.last = time.Now()
	st := p.state.DeepCopy()
	st.SyncResult = &v1alpha1.SyncOperationResult{Resources: resourceResults(p.results)}
	if s := st.Operation.Sync; s != nil {
		st.SyncResult.Revision = s.Revision
	}
	data, err := json.Marshal(map[string]any{"status": map[string]any{"operationState": st}})
	if err == nil {
		err = p.c.Status().Patch(p.ctx, p.app.DeepCopy(), client.RawPatch(types.MergePatchType, data))
	}
	if err != nil {
		ctrl.LoggerFrom(p.ctx).Info("could not report sync progress", "application", appKey(p.app), "error", err.Error())
	}
}
