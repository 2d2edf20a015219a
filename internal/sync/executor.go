package sync

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/fluxcd/cli-utils/pkg/kstatus/polling"
	"github.com/fluxcd/pkg/ssa"
	"github.com/fluxcd/pkg/ssa/utils"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/health"
)

// FieldManager is the server-side apply field manager Ferry applies as.
const FieldManager = "ferry"

// Action is what a sync did to one object, in Argo CD's result words.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	SyncFailed Action = "failed"
)

// State is how far an object a sync waits on has come: a hook's run, or a
// resource's rollout before the next wave.
type State string

const (
	Running   State = "Running"
	Succeeded State = "Succeeded"
	Failed    State = "Failed"
)

// Outcome is one object's result in one phase. A hook that runs in two
// phases has an outcome in each.
type Outcome struct {
	Key     Key
	Version string // API version applied
	Action  Action
	Message string
	Phase   Phase
	Wave    int64
	Hook    bool
	// State is set for hooks, and for resources the sync waited on before
	// its next step.
	State State
}

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
}

// InterruptedError is a sync stopped between steps or while waiting: by a
// terminate request or a newer revision. Everything applied before is
// reported; nothing is half-applied.
type InterruptedError struct{ Reason string }

func (e *InterruptedError) Error() string { return "sync interrupted: " + e.Reason }

// Execute runs plan.Steps in order. A step applies its objects, then its
// hooks; then, when it runs hooks or a later step applies something, the
// executor waits until the step's objects are healthy (kstatus) and its
// hooks succeeded. A failed apply, a Degraded object, a failed hook or a step
// that does not settle within the wave timeout fails the sync: later steps
// do not run, and the SyncFail hooks do. Prune steps delete only objects
// whose tracking annotation still names app (checked against the live
// object, with its UID as a precondition). After the sync, hooks are deleted
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
	run := &execution{e: e, app: app, opts: opts, rec: rec, create: make(map[*unstructured.Unstructured]bool, len(plan.Create))}
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
	hooks  []hookRun
}

// hookRun is a hook object created by this sync.
type hookRun struct {
	key      Key
	version  string
	phase    Phase
	policies []DeletePolicy
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

// apply applies a step's resources, then creates its hooks, and returns
// what to wait on: the live keys (a hook with generateName gets its name
// now) and API versions, in task order.
func (x *execution) apply(ctx context.Context, s Step) ([]waitee, error) {
	var objs []*unstructured.Unstructured
	var hooks []Task
	for _, t := range s.Tasks {
		if t.Hook {
			hooks = append(hooks, t)
		} else {
			objs = append(objs, t.Object)
		}
	}
	var waitOn []waitee
	if len(objs) > 0 {
		if err := x.applyResources(ctx, s, objs); err != nil {
			return nil, err
		}
		for _, o := range objs {
			waitOn = append(waitOn, waitee{key: KeyOf(o), version: o.GetAPIVersion()})
		}
	}
	for _, t := range hooks {
		w, err := x.startHook(ctx, t)
		if err != nil {
			return nil, err
		}
		waitOn = append(waitOn, w)
	}
	return waitOn, nil
}

// applyResources applies a step's ordinary objects. When nothing in the
// step needs staging, objects that do not exist yet are created with one
// apply each; comparing them first would find nothing.
func (x *execution) applyResources(ctx context.Context, s Step, objs []*unstructured.Unstructured) error {
	tag := func(o Outcome) Outcome {
		o.Phase, o.Wave = s.Phase, s.Wave
		return o
	}
	if !slices.ContainsFunc(objs, needsStage) {
		var fresh, rest []*unstructured.Unstructured
		for _, o := range objs {
			if x.create[o] {
				fresh = append(fresh, o)
			} else {
				rest = append(rest, o)
			}
		}
		if err := x.e.create(ctx, fresh, func(o Outcome) { x.rec.record(tag(o)) }); err != nil {
			return err
		}
		objs = rest
	}
	if len(objs) == 0 {
		return nil
	}
	opts := ssa.DefaultApplyOptions()
	opts.WaitInterval, opts.WaitTimeout = 500*time.Millisecond, time.Minute
	changes, err := x.e.rm.ApplyAllStaged(ctx, objs, opts)
	if changes != nil {
		for _, o := range changeOutcomes(objs, changes) {
			x.rec.record(tag(o))
		}
	}
	if err != nil {
		return fmt.Errorf("%s wave %d: apply: %w", s.Phase, s.Wave, err)
	}
	return nil
}

// startHook creates one hook object. With BeforeHookCreation, an object of
// the same name left by an earlier sync is deleted first (and waited for),
// so the hook runs again; a hook with generateName gets a new name each
// time.
func (x *execution) startHook(ctx context.Context, t Task) (waitee, error) {
	obj := t.Object.DeepCopy()
	if obj.GetName() != "" && slices.Contains(t.DeletePolicies, BeforeHookCreation) {
		if err := x.e.deleteAndWait(ctx, obj, x.opts.WaveTimeout); err != nil {
			return waitee{}, fmt.Errorf("%s hook %s: delete the previous run: %w", t.Phase, t.Key, err)
		}
	}
	action := Created
	if obj.GetName() == "" {
		if err := x.e.client.Create(ctx, obj, client.FieldOwner(FieldManager)); err != nil {
			return waitee{}, fmt.Errorf("%s hook %s: create: %w", t.Phase, t.Key, err)
		}
	} else {
		before := obj.GetResourceVersion()
		if err := x.e.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
			return waitee{}, fmt.Errorf("%s hook %s: apply: %w", t.Phase, t.Key, err)
		}
		if before != "" {
			action = Configured
		}
	}
	k := KeyOf(obj)
	x.hooks = append(x.hooks, hookRun{key: k, version: obj.GetAPIVersion(), phase: t.Phase, policies: t.DeletePolicies})
	x.rec.record(Outcome{Key: k, Version: obj.GetAPIVersion(), Action: action, Message: k.String() + " " + string(action),
		Phase: t.Phase, Wave: t.Wave, Hook: true, State: Running})
	return waitee{key: k, version: obj.GetAPIVersion(), hook: true}, nil
}

// waitee is an object a step waits on.
type waitee struct {
	key     Key
	version string
	hook    bool
}

// wait polls a step's objects until every one has succeeded (a resource is
// Healthy or Suspended, a hook finished), one has failed, the wave timeout
// passes or the sync is interrupted.
func (x *execution) wait(ctx context.Context, s Step, waitOn []waitee) error {
	deadline := time.Now().Add(x.opts.WaveTimeout)
	interval := 100 * time.Millisecond
	pending := waitOn
	for {
		var still []waitee
		var last string
		for _, w := range pending {
			state, msg, err := x.e.stateOf(ctx, w)
			if err != nil {
				return fmt.Errorf("%s wave %d: %w", s.Phase, s.Wave, err)
			}
			x.rec.update(w.key, s.Phase, state, msg)
			switch state {
			case Failed:
				what := w.key.String()
				if w.hook {
					what = string(s.Phase) + " hook " + what
				}
				return fmt.Errorf("%s wave %d: %s failed: %s", s.Phase, s.Wave, what, msg)
			case Running:
				still = append(still, w)
				last = fmt.Sprintf("%s: %s", w.key, msg)
			}
		}
		if pending = still; len(pending) == 0 {
			return nil
		}
		if reason := x.interrupted(ctx); reason != "" {
			return &InterruptedError{Reason: reason}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s wave %d: not healthy within %s (%d waiting; %s)", s.Phase, s.Wave, x.opts.WaveTimeout, len(pending), last)
		}
		select {
		case <-ctx.Done():
			return &InterruptedError{Reason: ctx.Err().Error()}
		case <-time.After(interval):
		}
		interval = min(interval*2, time.Second)
	}
}

// stateOf reads one object from the API server and says how far it is. A
// resource (or a hook of a kind that does not run to completion) succeeds
// when Healthy or Suspended and fails when Degraded; a Job hook when it
// is Complete or Failed, a Pod hook when it Succeeded or Failed.
func (e *Executor) stateOf(ctx context.Context, w waitee) (State, string, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(w.version)
	u.SetKind(w.key.Kind)
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: w.key.Namespace, Name: w.key.Name}, u); err != nil {
		if apierrors.IsNotFound(err) && w.hook {
			// Read from the API server after it was created: the hook was
			// deleted since, as ttlSecondsAfterFinished: 0 does once it
			// finished. Waiting for it would only time out.
			return Succeeded, "hook object deleted after it started (ttlSecondsAfterFinished?)", nil
		}
		if apierrors.IsNotFound(err) {
			return Running, "not found yet", nil
		}
		return "", "", fmt.Errorf("get %s: %w", w.key, err)
	}
	if w.hook {
		if state, msg, ok := hookState(u); ok {
			return state, msg, nil
		}
	}
	h := health.Assess(u)
	switch h.Status {
	case health.Healthy, health.Suspended:
		return Succeeded, string(h.Status), nil
	case health.Degraded:
		return Failed, h.Message, nil
	}
	return Running, strings.TrimSpace(string(h.Status) + " " + h.Message), nil
}

// hookState reads the end of a Job or Pod run; ok is false for other kinds.
func hookState(u *unstructured.Unstructured) (State, string, bool) {
	switch u.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Group: "batch", Kind: "Job"}:
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["status"] != "True" {
				continue
			}
			reason, _ := m["reason"].(string)
			msg, _ := m["message"].(string)
			switch m["type"] {
			case "Complete":
				return Succeeded, "job completed", true
			case "Failed":
				return Failed, strings.TrimSpace(reason + ": " + msg), true
			}
		}
		return Running, "job running", true
	case schema.GroupKind{Kind: "Pod"}:
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		switch phase {
		case "Succeeded":
			return Succeeded, "pod succeeded", true
		case "Failed":
			reason, _, _ := unstructured.NestedString(u.Object, "status", "reason")
			msg, _, _ := unstructured.NestedString(u.Object, "status", "message")
			return Failed, strings.TrimSpace("pod failed: " + reason + " " + msg), true
		}
		return Running, "pod " + strings.ToLower(cmp.Or(phase, "pending")), true
	}
	return "", "", false
}

// prune deletes a prune step's objects, in order.
func (x *execution) prune(ctx context.Context, s Step) error {
	for _, t := range s.Tasks {
		msg, err := x.e.prune(ctx, x.app, t.Key)
		if err != nil {
			return err
		}
		x.rec.record(Outcome{Key: t.Key, Action: Pruned, Message: msg, Phase: s.Phase, Wave: s.Wave})
	}
	return nil
}

// syncFail runs the SyncFail hooks after a failure, in wave order, and
// waits for them.
func (x *execution) syncFail(ctx context.Context, tasks []Task) error {
	for _, s := range group(tasks) {
		waitOn, err := x.apply(ctx, s)
		if err != nil {
			return err
		}
		if err := x.wait(ctx, s, waitOn); err != nil {
			return err
		}
	}
	return nil
}

// deleteHooks deletes the hooks this sync created whose delete policy asks
// for it: HookSucceeded ones that succeeded, HookFailed ones that failed.
// BeforeHookCreation hooks stay until the next sync runs them again. A hook
// that could not be deleted is reported in its outcome's message, not as a
// failed sync.
func (x *execution) deleteHooks(ctx context.Context) {
	for _, h := range x.hooks {
		state := x.rec.stateOf(h.key, h.phase)
		if !(state == Succeeded && slices.Contains(h.policies, HookSucceeded)) && !(state == Failed && slices.Contains(h.policies, HookFailed)) {
			continue
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion(h.version)
		u.SetKind(h.key.Kind)
		u.SetNamespace(h.key.Namespace)
		u.SetName(h.key.Name)
		// Background: a Job deleted with the API's default (orphan for
		// batch/v1) would leave its Pods behind.
		err := x.e.client.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground))
		if err != nil && !apierrors.IsNotFound(err) {
			x.rec.update(h.key, h.phase, state, fmt.Sprintf("could not delete the hook: %v", err))
		}
	}
}

// deleteAndWait deletes obj if it exists and waits until it is gone.
func (e *Executor) deleteAndWait(ctx context.Context, obj *unstructured.Unstructured, timeout time.Duration) error {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(obj.GroupVersionKind())
	u.SetNamespace(obj.GetNamespace())
	u.SetName(obj.GetName())
	err := e.client.Delete(ctx, u, client.PropagationPolicy(metav1.DeletePropagationBackground))
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		err := e.client.Get(ctx, client.ObjectKeyFromObject(u), u)
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still there after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Results keeps one outcome per object and phase, in the order they first
// appear: a later outcome of the same object in the same phase (a hook
// Running, then Succeeded) replaces the earlier one. It is safe for
// concurrent use; the zero value is ready.
type Results struct {
	mu       gosync.Mutex
	outcomes []Outcome
	index    map[phaseKey]int
}

type phaseKey struct {
	key   Key
	phase Phase
}

// Record adds or replaces o.
func (r *Results) Record(o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.index == nil {
		r.index = map[phaseKey]int{}
	}
	pk := phaseKey{o.Key, o.Phase}
	if i, ok := r.index[pk]; ok {
		r.outcomes[i] = o
		return
	}
	r.index[pk] = len(r.outcomes)
	r.outcomes = append(r.outcomes, o)
}

// update changes an outcome's state and message, and returns it; ok is
// false when there is no such outcome or nothing changed.
func (r *Results) update(k Key, phase Phase, state State, msg string) (Outcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	i, found := r.index[phaseKey{k, phase}]
	if !found || (r.outcomes[i].State == state && r.outcomes[i].Message == msg) {
		return Outcome{}, false
	}
	r.outcomes[i].State, r.outcomes[i].Message = state, msg
	return r.outcomes[i], true
}

func (r *Results) stateOf(k Key, phase Phase) State {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.index[phaseKey{k, phase}]; ok {
		return r.outcomes[i].State
	}
	return ""
}

// List returns the outcomes, in the order they first appeared.
func (r *Results) List() []Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.outcomes)
}

// recorder keeps an execution's results and reports each change.
type recorder struct {
	Results
	report func(Outcome)
}

func newRecorder(report func(Outcome)) *recorder {
	if report == nil {
		report = func(Outcome) {}
	}
	return &recorder{report: report}
}

func (r *recorder) record(o Outcome) {
	r.Record(o)
	r.report(o)
}

// update changes an outcome's state and message; nothing is reported when
// neither changed.
func (r *recorder) update(k Key, phase Phase, state State, msg string) {
	if o, ok := r.Results.update(k, phase, state, msg); ok {
		r.report(o)
	}
}

// needsStage reports kinds that must exist before others can be applied:
// CRDs, Namespaces, ClusterRoles and class definitions, which the ssa
// package applies first and waits for.
func needsStage(obj *unstructured.Unstructured) bool {
	return utils.IsClusterDefinition(obj) || utils.IsClassDefinition(obj)
}

// create applies objects that do not exist, a few at a time, writing the
// server's response into them.
func (e *Executor) create(ctx context.Context, objs []*unstructured.Unstructured, report func(Outcome)) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(e.concurrency)
	for _, obj := range objs {
		g.Go(func() error {
			if err := e.client.Patch(ctx, obj, client.Apply, client.ForceOwnership, client.FieldOwner(FieldManager)); err != nil {
				report(Outcome{Key: KeyOf(obj), Version: obj.GetAPIVersion(), Action: SyncFailed, Message: err.Error()})
				return fmt.Errorf("apply %s: %w", KeyOf(obj), err)
			}
			report(Outcome{Key: KeyOf(obj), Version: obj.GetAPIVersion(), Action: Created, Message: KeyOf(obj).String() + " created"})
			return nil
		})
	}
	return g.Wait()
}

func changeOutcomes(applied []*unstructured.Unstructured, changes *ssa.ChangeSet) []Outcome {
	versions := make(map[Key]string, len(applied))
	for _, o := range applied {
		versions[KeyOf(o)] = o.GetAPIVersion()
	}
	out := make([]Outcome, 0, len(changes.Entries))
	for _, c := range changes.Entries {
		k := Key{Group: c.ObjMetadata.GroupKind.Group, Kind: c.ObjMetadata.GroupKind.Kind, Namespace: c.ObjMetadata.Namespace, Name: c.ObjMetadata.Name}
		action := Unchanged
		switch c.Action {
		case ssa.CreatedAction:
			action = Created
		case ssa.ConfiguredAction:
			action = Configured
		}
		out = append(out, Outcome{Key: k, Version: versions[k], Action: action, Message: c.Subject + " " + string(c.Action)})
	}
	return out
}

// prune deletes one object if it is still owned by app.
func (e *Executor) prune(ctx context.Context, app string, k Key) (string, error) {
	live := &metav1.PartialObjectMetadata{}
	gvk, err := e.client.RESTMapper().RESTMapping(k.GroupKind())
	if err != nil {
		return "", fmt.Errorf("prune %s: %w", k, err)
	}
	live.SetGroupVersionKind(gvk.GroupVersionKind)
	if err := e.client.Get(ctx, client.ObjectKey{Namespace: k.Namespace, Name: k.Name}, live); err != nil {
		if apierrors.IsNotFound(err) {
			return "already deleted", nil
		}
		return "", fmt.Errorf("prune %s: %w", k, err)
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk.GroupVersionKind)
	u.SetNamespace(k.Namespace)
	u.SetName(k.Name)
	u.SetAnnotations(live.GetAnnotations())
	if owner, ok := Owner(u); !ok || owner != app {
		return "skipped: no longer owned by this application", nil
	}
	uid := live.GetUID()
	err = e.client.Delete(ctx, live, client.PropagationPolicy(metav1.DeletePropagationBackground), client.Preconditions{UID: &uid})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("prune %s: %w", k, err)
	}
	return "pruned", nil
}

// EnsureNamespace creates the destination namespace if it does not exist
// (syncOptions CreateNamespace=true). It is not tracked, so it is never
// pruned, as in Argo CD.
func (e *Executor) EnsureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{}
	err := e.client.Get(ctx, client.ObjectKey{Name: name}, ns)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("get namespace %s: %w", name, err)
	}
	ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	ns.SetGroupVersionKind(schema.GroupVersionKind{Version: "v1", Kind: "Namespace"})
	if err := e.client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
