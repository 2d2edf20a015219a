package appstate

import (
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Action is what Decide asks the controller to do.
type Action string

const (
	// ActionNone: no sync now (Decision.Reason says why; RetryAt, when set,
	// is when a retry or a self-heal falls due).
	ActionNone Action = "None"
	// ActionSync: run Decision.Sync.
	ActionSync Action = "Sync"
	// ActionFinishTerminated: a terminate request that no running sync took
	// up (the controller restarted meanwhile) ends the operation as Failed.
	ActionFinishTerminated Action = "FinishTerminated"
)

// Skip is why Decide asks for no sync.
type Skip string

const (
	SkipNone Skip = ""
	// SkipNotAutomated: no operation asked for, and auto-sync is off.
	SkipNotAutomated Skip = "AutoSyncDisabled"
	// SkipInSync: nothing a sync would change.
	SkipInSync Skip = "InSync"
	// SkipAlreadySynced: this revision was synced; the live state drifted
	// since, and selfHeal is off.
	SkipAlreadySynced Skip = "AlreadySynced"
	// SkipRetryBackoff: the last automated sync of this revision failed; the
	// next retry is due at Decision.RetryAt.
	SkipRetryBackoff Skip = "RetryBackoff"
	// SkipSelfHealDelay: this revision was synced; the live state drifted
	// since and selfHeal is on, but the drift has not been seen for
	// DecisionInput.SelfHealDelay yet; the self-heal is due at
	// Decision.RetryAt.
	SkipSelfHealDelay Skip = "SelfHealDelay"
	// SkipRetryLimit: every retry of this revision failed; a new revision
	// or a requested sync is needed.
	SkipRetryLimit Skip = "RetryLimitReached"
	// SkipTerminated: someone terminated the automated sync of this
	// revision; it is not started again until the revision changes.
	SkipTerminated Skip = "TerminatedByUser"
)

// MessageTerminated ends the message of an operation stopped by a terminate
// request (`ferry app terminate-op`).
const MessageTerminated = "terminated by request"

// DecisionInput is everything the sync decision depends on.
type DecisionInput struct {
	// App is the Application: spec.syncPolicy, operation, status.
	App *v1alpha1.Application
	// Comparison is the live state against Git at Comparison.Revision, the
	// commit the source follows now.
	Comparison *Comparison
	// LastSync is the last sync's state: the one this process ran (the
	// cache may not show it yet), else status.operationState; nil when
	// none.
	LastSync *v1alpha1.OperationState
	// Now is the clock.
	Now time.Time
	// SelfHealDelay is how long a drift must have been seen before selfHeal
	// syncs it away (the controller's --self-heal-delay); 0 heals at once.
	// Only a self-heal waits: a new revision, a retry, a requested sync or
	// an approved deletion never does.
	SelfHealDelay time.Duration
	// DriftSince is when the controller first saw the drift that a
	// self-heal would sync away (the first decision SkipSelfHealDelay since
	// the Application was last in sync or synced); zero: first seen Now.
	DriftSince time.Time
}

// SyncRequest is a sync to run: an operation someone asked for, or an
// automated sync.
type SyncRequest struct {
	// Operation is recorded in operationState.
	Operation v1alpha1.Operation
	// Revision is as asked for ("main", a tag, a commit); resolved before
	// the sync. An automated sync carries the compared commit.
	Revision   string
	Prune      bool
	DryRun     bool
	Options    []string
	Only       []fsync.Key
	Retry      RetryPolicy
	RetryCount int64
	Automated  bool
	// Resume, when set, is the operation a process left Running when it
	// stopped mid-sync; this sync continues it: the same start and try, and
	// the hooks it ran are not run again (sync.Resume).
	Resume *v1alpha1.OperationState
}

// Decision is what to do.
type Decision struct {
	Action Action
	Sync   *SyncRequest
	Reason Skip
	// RetryAt, when not zero, is when the decision falls due to change
	// (ActionNone): a failed automated sync's retry (SkipRetryBackoff), or a
	// drift's self-heal (SkipSelfHealDelay).
	RetryAt time.Time
}

// Decide decides whether to sync now. It is pure: the same input always
// gives the same decision.
//
//   - A requested operation always runs (a retried one counts its retries).
//   - A terminate request nobody runs ends the operation.
//   - An automated sync runs when something is out of sync that a sync
//     would fix and either the revision is new (not the last one synced) or
//     selfHeal is on; a self-heal (selfHeal alone asks for the sync) waits
//     until the drift has been seen for SelfHealDelay. An object marked Prune=confirm whose confirmation was
//     asked for (the DeletionConfirmationPending condition names it) is
//     nothing a sync would fix until the Application approves its deletion
//     (sync.DeletionApprovedAnnotation, newer than the request); once it
//     does, the revision is synced again, to prune it, selfHeal or not.
//   - A failed automated sync of a revision is retried with backoff up to
//     the retry limit, then not again until a new revision or a requested
//     sync; a terminated one not at all for that revision. A new revision
//     supersedes both at once.
//   - A sync left Running by a controller that stopped is resumed (its
//     hooks not run again), even when everything is in sync by now; an
//     automated one only while its revision is still the one to sync.
//   - A dry run applied nothing, so it is no attempt at its revision.
//   - An automated sync with prune that would delete every resource is
//     attempted: its plan refuses it unless allowEmpty (sync.MakePlan), so
//     the refusal is reported as a failed sync, retried and notified.
func Decide(in DecisionInput) Decision {
	app, last := in.App, in.LastSync
	if st := app.Status.OperationState; (st != nil && st.Phase == v1alpha1.OperationTerminating && app.Operation != nil) ||
		(last != nil && last.Phase == v1alpha1.OperationTerminating) {
		return Decision{Action: ActionFinishTerminated}
	}
	if op := app.Operation; op != nil && op.Sync != nil {
		return Decision{Action: ActionSync, Sync: requested(app, last)}
	}
	policy := app.Spec.SyncPolicy
	if policy == nil || policy.Automated == nil {
		return Decision{Action: ActionNone, Reason: SkipNotAutomated}
	}
	auto, revision := policy.Automated, in.Comparison.Revision
	rev, revs := StatusRevisions(app, revision)
	req := &SyncRequest{
		Operation: v1alpha1.Operation{
			Sync:        &v1alpha1.SyncOperation{Revision: rev, Revisions: revs, Prune: auto.Prune, SyncOptions: syncOptionsOf(app)},
			InitiatedBy: v1alpha1.OperationInitiator{Automated: true},
		},
		Revision: revision, Prune: auto.Prune, Options: syncOptionsOf(app), Automated: true,
		Retry: RetryPolicyOf(policy.Retry, true),
	}
	if resumable(last) && last.Operation.InitiatedBy.Automated && lastRevision(last) == revision {
		// Left Running by a process that stopped mid-sync: not a finished
		// attempt. It is resumed, counting as the same try, even when
		// everything compares in sync by now: its later hooks (PostSync)
		// and its history entry are still owed.
		req.RetryCount, req.Resume = last.RetryCount, last
		return Decision{Action: ActionSync, Sync: req}
	}
	conf := ConfirmationOf(app)
	if !in.Comparison.needsSync(auto.Prune, conf) {
		return Decision{Action: ActionNone, Reason: SkipInSync}
	}
	if last == nil || lastRevision(last) != revision {
		return Decision{Action: ActionSync, Sync: req} // a new revision
	}
	if last.Operation.Sync != nil && last.Operation.Sync.DryRun {
		// A dry run applied nothing: no attempt at this revision, whether
		// it succeeded or failed.
		return Decision{Action: ActionSync, Sync: req}
	}
	switch {
	case last.Phase == v1alpha1.OperationRunning:
		// Left Running by a controller that stopped mid-sync: not a
		// finished attempt, so it runs again, counting as the same try.
		req.RetryCount = last.RetryCount
		return Decision{Action: ActionSync, Sync: req}
	case isFailed(last.Phase) && last.Operation.InitiatedBy.Automated && strings.HasSuffix(last.Message, MessageTerminated):
		return Decision{Action: ActionNone, Reason: SkipTerminated}
	case isFailed(last.Phase):
		if last.RetryCount >= req.Retry.Limit {
			return Decision{Action: ActionNone, Reason: SkipRetryLimit}
		}
		finished := in.Now
		if last.FinishedAt != nil {
			finished = last.FinishedAt.Time
		}
		if due := finished.Add(req.Retry.Backoff(last.RetryCount)); due.After(in.Now) {
			return Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: due}
		}
		req.RetryCount = last.RetryCount + 1
		return Decision{Action: ActionSync, Sync: req}
	case auto.Prune && in.Comparison.approvedPrune(conf):
		// The deletion of what the last sync held is approved: the same
		// revision again, which prunes it now.
		return Decision{Action: ActionSync, Sync: req}
	case !auto.SelfHeal:
		return Decision{Action: ActionNone, Reason: SkipAlreadySynced}
	}
	// Self-heal: the revision is synced and only drift asks for a sync.
	if due, wait := selfHealDue(in); wait {
		return Decision{Action: ActionNone, Reason: SkipSelfHealDelay, RetryAt: due}
	}
	return Decision{Action: ActionSync, Sync: req}
}

// selfHealDue is when a self-heal may run: SelfHealDelay after the drift was
// first seen (Now when DriftSince is zero, or later than Now); wait is
// whether that is still to come.
func selfHealDue(in DecisionInput) (due time.Time, wait bool) {
	if in.SelfHealDelay <= 0 {
		return time.Time{}, false
	}
	since := in.DriftSince
	if since.IsZero() || since.After(in.Now) {
		since = in.Now
	}
	due = since.Add(in.SelfHealDelay)
	return due, due.After(in.Now)
}

// requested is the sync an operation asks for.
func requested(app *v1alpha1.Application, last *v1alpha1.OperationState) *SyncRequest {
	op := app.Operation.DeepCopy()
	req := &SyncRequest{Operation: *op, Revision: op.Sync.Revision, Prune: op.Sync.Prune, DryRun: op.Sync.DryRun,
		Options: append(syncOptionsOf(app), op.Sync.SyncOptions...), Retry: RetryPolicyOf(&op.Retry, false)}
	// By position, the revisions the operation names and the spec's for
	// the others.
	req.Revision = JoinRevisions(TargetRevisions(app, op.Sync))
	for _, res := range op.Sync.Resources {
		req.Only = append(req.Only, fsync.Key{Group: res.Group, Kind: res.Kind, Namespace: res.Namespace, Name: res.Name})
	}
	switch {
	case resumable(last) && equality.Semantic.DeepEqual(last.Operation, *op):
		// This operation, left Running by a process that stopped: resumed.
		req.RetryCount, req.Resume = last.RetryCount, last
	case last != nil && isFailed(last.Phase) && last.Operation.Sync != nil && !last.Operation.InitiatedBy.Automated:
		req.RetryCount = last.RetryCount + 1
	}
	return req
}

// resumable reports a sync left Running (a dry run applied nothing and
// has nothing to resume).
func resumable(last *v1alpha1.OperationState) bool {
	return last != nil && last.Phase == v1alpha1.OperationRunning && last.Operation.Sync != nil && !last.Operation.Sync.DryRun
}

func lastRevision(s *v1alpha1.OperationState) string {
	if s.SyncResult != nil {
		return SyncedRevision(s.SyncResult.Revision, s.SyncResult.Revisions)
	}
	if s.Operation.Sync != nil {
		return SyncedRevision(s.Operation.Sync.Revision, s.Operation.Sync.Revisions)
	}
	return ""
}

func isFailed(p v1alpha1.OperationPhase) bool {
	return p == v1alpha1.OperationFailed || p == v1alpha1.OperationError
}

func syncOptionsOf(app *v1alpha1.Application) []string {
	if app.Spec.SyncPolicy == nil {
		return nil
	}
	return append([]string(nil), app.Spec.SyncPolicy.SyncOptions...)
}

// RetryPolicy is a sync's retry limit and backoff.
type RetryPolicy struct {
	Limit    int64
	Duration time.Duration
	Factor   int64
	Max      time.Duration
}

// RetryPolicyOf reads a retry strategy. Without one, automated syncs are
// retried 5 times (a failed sync is retried and reported, never dropped),
// requested operations not at all, as in Argo CD. Backoff defaults to Argo
// CD's: 5s, doubling, at most 3m. A negative limit retries forever.
func RetryPolicyOf(rs *v1alpha1.RetryStrategy, automated bool) RetryPolicy {
	p := RetryPolicy{Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute}
	if automated {
		p.Limit = 5
	}
	if rs == nil {
		return p
	}
	if rs.Limit != 0 || !automated {
		p.Limit = rs.Limit
	}
	if rs.Limit < 0 {
		p.Limit = 1 << 62
	}
	if b := rs.Backoff; b != nil {
		if d, err := time.ParseDuration(b.Duration); err == nil && d > 0 {
			p.Duration = d
		}
		if b.Factor != nil && *b.Factor > 0 {
			p.Factor = *b.Factor
		}
		if d, err := time.ParseDuration(b.MaxDuration); err == nil && d > 0 {
			p.Max = d
		}
	}
	return p
}

// Backoff is the wait before retry number attempt+1.
func (p RetryPolicy) Backoff(attempt int64) time.Duration {
	d, f := p.Duration, time.Duration(max(p.Factor, 1))
	for range attempt {
		if f == 1 || d >= p.Max {
			break
		}
		if d > p.Max/f {
			return p.Max // d*f would pass Max (or overflow int64)
		}
		d *= f
	}
	return min(d, p.Max)
}
