package sync

import (
	"slices"
	gosync "sync"
)

// Action is what a sync did to one object, in Argo CD's result words.
type Action string

const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Pruned     Action = "pruned"
	SyncFailed Action = "failed"
	// PruneSkipped: an object that requires pruning was left in place
	// (pruning off, or Prune=false).
	PruneSkipped Action = "prune-skipped"
	// WouldApply, WouldPrune and WouldRun are a dry run's plan for an
	// object, a prune and a hook.
	WouldApply Action = "would apply"
	WouldPrune Action = "would prune"
	WouldRun   Action = "would run"
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
