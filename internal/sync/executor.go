package sync

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager is the server-side apply field manager Ferry applies as.
const FieldManager = "ferry"

// Executor carries out plans with server-side apply, step by step (see
// Steps): it applies a step, waits until its objects are healthy and its
// hooks finished, then goes on. Within a step it applies CRDs, Namespaces
// and ClusterRoles first and waits until they are established, so objects
// that need them can follow in the same step.
type Executor struct {
	client      client.Client
	rm          *ssa.ResourceManager
	concurrency int
}

// NewExecutor returns an executor that writes through c (which must read
// from the API server, not a cache) with up to concurrency requests at once.
func NewExecutor(c client.Client, mapper meta.RESTMapper, concurrency int) *Executor {
	rm := ssa.NewResourceManager(c, polling.NewStatusPoller(c, mapper, polling.Options{}), ssa.Owner{Field: FieldManager})
	rm.SetConcurrency(concurrency)
	return &Executor{client: c, rm: rm, concurrency: max(concurrency, 1)}
}

// ExecOptions tune one execution.
type ExecOptions struct {
	// WaveTimeout bounds the wait for one step's objects to become healthy
	// and its hooks to finish. Default 5m.
	WaveTimeout time.Duration
	// Interrupted, when set, is asked before each step and while waiting; a
	// non-empty answer (the reason) stops the sync with an InterruptedError.
	Interrupted func(context.Context) string
	// Report, when set, is called with each outcome as soon as it is known,
	// and again when its State changes (concurrently: it must be safe for
	// concurrent use), so a sync someone follows can show its progress.
	Report func(Outcome)
	// Operation names the operation this execution runs (or resumes); it is
	// written on every hook object it creates (OperationAnnotation).
	Operation string
	// Resume, when set, says this execution continues an operation whose
	// earlier execution stopped unfinished: hook runs that operation began
	// are adopted or, when finished, not run again. Everything else is
	// applied again, which server-side apply makes harmless.
	Resume *Resume
}

// InterruptedError is a sync stopped between steps or while waiting: by a
// terminate request or a newer revision. Everything applied before is
// reported; nothing is half-applied.
type InterruptedError struct{ Reason string }

func (e *InterruptedError) Error() string { return "sync interrupted: " + e.Reason }

// Execute runs plan.Steps in order. A step applies its objects, then its
// hooks; then, when it runs hooks or a later step applies something, the
// executor waits until the step's objects are healthy (kstatus) and its
// hooks succeeded. A failed apply, a Degraded object, a failed hook, a
// failed prune or a step that does not settle within the wave timeout fails
// the sync: later steps do not run, and the SyncFail hooks do. Prune steps
// delete only objects whose tracking annotation still names app (checked
// against the live object, with its UID as a precondition); a failed delete
// fails its step only after the step's other prunes were attempted. After the sync, hooks are deleted
// as their hook-delete-policy says. Applied objects are updated in place
// with the server's response.
func (e *Executor) Execute(ctx context.Context, app string, plan Plan, opts ExecOptions) ([]Outcome, error) {
	if plan.Refusal != "" {
		return nil, errors.New(plan.Refusal)
	}
	if opts.WaveTimeout <= 0 {
		opts.WaveTimeout = 5 * time.Minute
	}
	rec := newRecorder(opts.Report)
	run := &execution{e: e, app: app, opts: opts, rec: rec, create: make(map[*unstructured.Unstructured]bool, len(plan.Create)), seen: plan.Seen}
	for _, o := range plan.Create {
		run.create[o] = true
	}
	err := run.steps(ctx, plan.Steps)
	var interrupted *InterruptedError
	if err != nil && !errors.As(err, &interrupted) && len(plan.SyncFail) > 0 {
		if ferr := run.syncFail(ctx, plan.SyncFail); ferr != nil {
			err = fmt.Errorf("%w; SyncFail hooks: %w", err, ferr)
		}
	}
	run.deleteHooks(ctx)
	return rec.List(), err
}

// execution is one run of Execute.
type execution struct {
	e      *Executor
	app    string
	opts   ExecOptions
	rec    *recorder
	create map[*unstructured.Unstructured]bool
	seen   map[Key]string // Plan.Seen
	hooks  []hookRun
}

func (x *execution) steps(ctx context.Context, steps []Step) error {
	for i, s := range steps {
		if reason := x.interrupted(ctx); reason != "" {
			return &InterruptedError{Reason: reason}
		}
		if s.Prune {
			if err := x.prune(ctx, s); err != nil {
				return err
			}
			continue
		}
		waitOn, err := x.apply(ctx, s)
		if err != nil {
			return err
		}
		if waitsAfter(steps, i) {
			if err := x.wait(ctx, s, waitOn); err != nil {
				return err
			}
		}
	}
	return nil
}

func (x *execution) interrupted(ctx context.Context) string {
	if err := ctx.Err(); err != nil {
		return err.Error()
	}
	if x.opts.Interrupted == nil {
		return ""
	}
	return x.opts.Interrupted(ctx)
}
