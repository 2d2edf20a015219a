package appstate

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// now is Decide's clock in every test.
var now = time.Date(2025, 3, 4, 12, 0, 0, 0, time.UTC)

const (
	revA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	revB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
)

var (
	cmKey  = fsync.Key{Kind: "ConfigMap", Namespace: "apps", Name: "settings"}
	oldKey = fsync.Key{Kind: "ConfigMap", Namespace: "apps", Name: "old"}
)

// Comparisons at revB, by what differs.
func synced() *Comparison {
	return &Comparison{Revision: revB, Resources: []ResourceState{
		{Key: cmKey, Desired: true, Sync: v1alpha1.SyncStatusCodeSynced, ExpectedOwner: "demo", Owner: "demo"},
	}}
}

func drifted() *Comparison {
	c := synced()
	c.Resources[0].Sync = v1alpha1.SyncStatusCodeOutOfSync
	return c
}

// toPrune: everything desired is synced; one object left Git.
func toPrune(kept bool) *Comparison {
	c := synced()
	c.Resources = append(c.Resources, ResourceState{Key: oldKey, Sync: v1alpha1.SyncStatusCodeOutOfSync,
		Owner: "demo", ExpectedOwner: "demo", RequiresPruning: true, PruneDisabled: kept})
	return c
}

// toConfirm: everything desired is synced; one object marked Prune=confirm
// left Git.
func toConfirm() *Comparison {
	c := toPrune(false)
	c.Resources[1].PruneConfirm = true
	return c
}

// pendingFor adds app's DeletionConfirmationPending condition, asked at
// requested about oldKey, and, unless approved is zero, its approval.
func pendingFor(app *v1alpha1.Application, requested, approved time.Time) *v1alpha1.Application {
	app.Status.Conditions = append(app.Status.Conditions, v1alpha1.ApplicationCondition{
		Type:               v1alpha1.ApplicationConditionDeletionConfirmationPending,
		Message:            ConfirmationMessage(app, []fsync.Key{oldKey}, false),
		LastTransitionTime: ptr.To(metav1.NewTime(requested)),
	})
	if !approved.IsZero() {
		app.Annotations = map[string]string{fsync.DeletionApprovedAnnotation: approved.Format(time.RFC3339)}
	}
	return app
}

// pruneAll: Git holds nothing any more; one object is left.
func pruneAll() *Comparison {
	return &Comparison{Revision: revB, Resources: []ResourceState{
		{Key: oldKey, Sync: v1alpha1.SyncStatusCodeOutOfSync, Owner: "demo", ExpectedOwner: "demo", RequiresPruning: true},
	}}
}

func newApp(policy *v1alpha1.SyncPolicy) *v1alpha1.Application {
	return &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ferry", Name: "demo"},
		Spec: v1alpha1.ApplicationSpec{
			Source:      &v1alpha1.ApplicationSource{RepoURL: "https://git.example/demo.git", TargetRevision: "main", Path: "app"},
			Destination: v1alpha1.ApplicationDestination{Namespace: "apps"},
			SyncPolicy:  policy,
		},
	}
}

func auto(a v1alpha1.SyncPolicyAutomated) *v1alpha1.SyncPolicy {
	return &v1alpha1.SyncPolicy{Automated: &a}
}

func withRetry(p *v1alpha1.SyncPolicy, rs v1alpha1.RetryStrategy) *v1alpha1.SyncPolicy {
	p.Retry = &rs
	return p
}

func withOperation(app *v1alpha1.Application, op v1alpha1.Operation) *v1alpha1.Application {
	app.Operation = &op
	return app
}

func withStatus(app *v1alpha1.Application, st *v1alpha1.OperationState) *v1alpha1.Application {
	app.Status.OperationState = st
	return app
}

// lastSync is a finished (or running) sync of rev.
type lastSync struct {
	phase     v1alpha1.OperationPhase
	rev       string
	automated bool
	retries   int64
	ago       time.Duration // FinishedAt = now - ago
	message   string
	dryRun    bool
}

func (l lastSync) state() *v1alpha1.OperationState {
	st := &v1alpha1.OperationState{
		Operation: v1alpha1.Operation{
			Sync:        &v1alpha1.SyncOperation{Revision: l.rev, DryRun: l.dryRun},
			InitiatedBy: v1alpha1.OperationInitiator{Automated: l.automated},
		},
		Phase:      l.phase,
		Message:    l.message,
		StartedAt:  metav1.NewTime(now.Add(-l.ago - time.Second)),
		RetryCount: l.retries,
	}
	if !l.automated {
		st.Operation.InitiatedBy.Username = "admin"
	}
	if l.phase != v1alpha1.OperationRunning && l.phase != v1alpha1.OperationTerminating {
		st.FinishedAt = ptr.To(metav1.NewTime(now.Add(-l.ago)))
		st.SyncResult = &v1alpha1.SyncOperationResult{Revision: l.rev}
	}
	return st
}

func failedAuto(rev string, retries int64, ago time.Duration) *v1alpha1.OperationState {
	return lastSync{phase: v1alpha1.OperationFailed, rev: rev, automated: true, retries: retries, ago: ago, message: "one or more objects failed to apply"}.state()
}

// autoSync is the automated sync Decide should ask for at revB.
func autoSync(prune bool, retries int64, retry RetryPolicy) *SyncRequest {
	return &SyncRequest{
		Operation: v1alpha1.Operation{
			Sync:        &v1alpha1.SyncOperation{Revision: revB, Prune: prune},
			InitiatedBy: v1alpha1.OperationInitiator{Automated: true},
		},
		Revision: revB, Prune: prune, Automated: true, RetryCount: retries, Retry: retry,
	}
}

func resumed(r *SyncRequest, last *v1alpha1.OperationState) *SyncRequest {
	r.Resume = last
	return r
}

var defaultAutoRetry = RetryPolicy{Limit: 5, Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute}

func TestDecide(t *testing.T) {
	failedAt := now.Add(-time.Second) // FinishedAt of syncs that failed a second ago
	tests := []struct {
		name string
		app  *v1alpha1.Application
		cmp  *Comparison
		last *v1alpha1.OperationState
		want Decision
	}{
		// Automated or not.
		{
			name: "no sync policy: nothing automated",
			app:  newApp(nil), cmp: drifted(),
			want: Decision{Action: ActionNone, Reason: SkipNotAutomated},
		},
		{
			name: "sync policy without automated: nothing automated",
			app:  newApp(&v1alpha1.SyncPolicy{SyncOptions: []string{"CreateNamespace=true"}}), cmp: drifted(),
			want: Decision{Action: ActionNone, Reason: SkipNotAutomated},
		},
		{
			name: "automated, new revision out of sync: sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "automated, in sync: nothing to do",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{SelfHeal: true})), cmp: synced(),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},
		{
			name: "automated sync carries the sync policy's options",
			app: newApp(&v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{},
				SyncOptions: []string{"CreateNamespace=true"}}),
			cmp: drifted(),
			want: Decision{Action: ActionSync, Sync: func() *SyncRequest {
				r := autoSync(false, 0, defaultAutoRetry)
				r.Options = []string{"CreateNamespace=true"}
				r.Operation.Sync.SyncOptions = []string{"CreateNamespace=true"}
				return r
			}()},
		},

		// Prune.
		{
			name: "object to prune, prune off: nothing a sync would fix",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: toPrune(false),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},
		{
			name: "object to prune, prune on: sync with prune",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), cmp: toPrune(false),
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},
		{
			name: "object to prune says Prune=false: never a sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})), cmp: toPrune(true),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},

		// Prune=confirm: the first sync asks for confirmation (and prunes the
		// rest); until approved, the held object is no reason to sync; an
		// approval newer than the request syncs the revision again.
		{
			name: "object to prune says Prune=confirm, not asked yet: sync (which asks)",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), cmp: toConfirm(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revA, automated: true, ago: time.Hour}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},
		{
			name: "Prune=confirm asked, not approved, selfHeal on: no sync (it would only hold it again)",
			app:  pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})), now.Add(-time.Minute), time.Time{}),
			cmp:  toConfirm(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, ago: time.Minute}.state(),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},
		{
			name: "Prune=confirm asked, approval older than the request: no sync",
			app:  pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})), now.Add(-time.Minute), now.Add(-time.Hour)),
			cmp:  toConfirm(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, ago: time.Minute}.state(),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},
		{
			name: "Prune=confirm approved, revision synced, selfHeal off: sync again to prune",
			app:  pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), now.Add(-time.Minute), now),
			cmp:  toConfirm(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, ago: time.Minute}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},
		{
			name: "Prune=confirm approved, but the last sync failed: the retry backoff still holds",
			app:  pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), now.Add(-time.Minute), now),
			cmp:  toConfirm(), last: failedAuto(revB, 0, time.Second),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: now.Add(4 * time.Second)},
		},
		{
			name: "approved, but the object says Prune=false too: no sync",
			app:  pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), now.Add(-time.Minute), now),
			cmp: func() *Comparison {
				c := toConfirm()
				c.Resources[1].PruneDisabled = true
				return c
			}(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, ago: time.Minute}.state(),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},
		{
			name: "Prune=confirm asked, a new revision: sync (it holds the object again)",
			app:  pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), now.Add(-time.Minute), time.Time{}),
			cmp: func() *Comparison {
				c := toConfirm()
				c.Resources[0].Sync = v1alpha1.SyncStatusCodeOutOfSync
				return c
			}(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revA, automated: true, ago: time.Minute}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},

		// allowEmpty: the sync is attempted either way; without allowEmpty
		// its plan refuses to prune everything (sync.MakePlan), so the
		// refusal is a failed sync, reported and notified like any other.
		{
			name: "prune would delete everything: attempted (the plan refuses it)",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true})), cmp: pruneAll(),
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},
		{
			name: "prune would delete everything, allowEmpty: sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true, AllowEmpty: true})), cmp: pruneAll(),
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},
		{
			name: "everything gone from Git, prune off: nothing a sync would fix",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: pruneAll(),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},

		// selfHeal.
		{
			name: "revision synced, drifted since, selfHeal off: skipped",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, ago: time.Hour}.state(),
			want: Decision{Action: ActionNone, Reason: SkipAlreadySynced},
		},
		{
			name: "revision synced, drifted since, selfHeal on: sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{SelfHeal: true})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, retries: 2, ago: time.Hour}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "revision synced by request, drifted since, selfHeal off: skipped",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, ago: time.Hour}.state(),
			want: Decision{Action: ActionNone, Reason: SkipAlreadySynced},
		},
		{
			name: "revision only dry-run, selfHeal off: a dry run synced nothing, so sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, dryRun: true, ago: time.Minute}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "older revision synced: the new one syncs",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revA, automated: true, ago: time.Hour}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},

		// Retry and backoff.
		{
			name: "failed a second ago: first retry in 5s",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revB, 0, time.Second),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: failedAt.Add(5 * time.Second)},
		},
		{
			name: "failed its second retry: third in 20s",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revB, 2, time.Second),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: failedAt.Add(20 * time.Second)},
		},
		{
			name: "retry due exactly now: sync counting the retry",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revB, 2, 20*time.Second),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 3, defaultAutoRetry)},
		},
		{
			name: "retry overdue: sync counting the retry",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revB, 0, time.Minute),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 1, defaultAutoRetry)},
		},
		{
			name: "default limit of 5 retries reached",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revB, 5, time.Hour),
			want: Decision{Action: ActionNone, Reason: SkipRetryLimit},
		},
		{
			name: "retry limit reached even with selfHeal",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{SelfHeal: true})), cmp: drifted(),
			last: failedAuto(revB, 5, time.Hour),
			want: Decision{Action: ActionNone, Reason: SkipRetryLimit},
		},
		{
			name: "fourth retry of 5: allowed",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revB, 4, time.Hour),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 5, defaultAutoRetry)},
		},
		{
			name: "a failed sync without FinishedAt waits a full backoff from now",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: func() *v1alpha1.OperationState {
				st := failedAuto(revB, 1, time.Hour)
				st.FinishedAt = nil
				return st
			}(),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: now.Add(10 * time.Second)},
		},
		{
			name: "sync policy's limit of 2 reached",
			app:  newApp(withRetry(auto(v1alpha1.SyncPolicyAutomated{}), v1alpha1.RetryStrategy{Limit: 2})), cmp: drifted(),
			last: failedAuto(revB, 2, time.Hour),
			want: Decision{Action: ActionNone, Reason: SkipRetryLimit},
		},
		{
			name: "sync policy's limit of 2 not yet reached",
			app:  newApp(withRetry(auto(v1alpha1.SyncPolicyAutomated{}), v1alpha1.RetryStrategy{Limit: 2})), cmp: drifted(),
			last: failedAuto(revB, 1, time.Hour),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 2, RetryPolicy{Limit: 2, Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute})},
		},
		{
			name: "negative limit retries forever, backoff capped at 3m",
			app:  newApp(withRetry(auto(v1alpha1.SyncPolicyAutomated{}), v1alpha1.RetryStrategy{Limit: -1})), cmp: drifted(),
			last: failedAuto(revB, 100, time.Minute),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: now.Add(-time.Minute + 3*time.Minute)},
		},
		{
			name: "negative limit, 101st retry due",
			app:  newApp(withRetry(auto(v1alpha1.SyncPolicyAutomated{}), v1alpha1.RetryStrategy{Limit: -1})), cmp: drifted(),
			last: failedAuto(revB, 100, 3*time.Minute),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 101, RetryPolicy{Limit: 1 << 62, Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute})},
		},
		{
			name: "custom backoff: 1m tripled, at most 10m",
			app: newApp(withRetry(auto(v1alpha1.SyncPolicyAutomated{}), v1alpha1.RetryStrategy{Limit: 10,
				Backoff: &v1alpha1.Backoff{Duration: "1m", Factor: ptr.To[int64](3), MaxDuration: "10m"}})),
			cmp:  drifted(),
			last: failedAuto(revB, 1, time.Second),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: failedAt.Add(3 * time.Minute)},
		},
		{
			name: "custom backoff capped at its maxDuration",
			app: newApp(withRetry(auto(v1alpha1.SyncPolicyAutomated{}), v1alpha1.RetryStrategy{Limit: 10,
				Backoff: &v1alpha1.Backoff{Duration: "1m", Factor: ptr.To[int64](3), MaxDuration: "10m"}})),
			cmp:  drifted(),
			last: failedAuto(revB, 3, time.Second),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: failedAt.Add(10 * time.Minute)},
		},
		{
			name: "an errored sync is retried like a failed one",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationError, rev: revB, automated: true, retries: 1, ago: time.Second}.state(),
			want: Decision{Action: ActionNone, Reason: SkipRetryBackoff, RetryAt: failedAt.Add(10 * time.Second)},
		},

		// A new revision supersedes.
		{
			name: "failed revision A in backoff, now at B: sync at once, first try",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revA, 2, time.Second),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "revision A reached the retry limit, now at B: sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: failedAuto(revA, 5, time.Second),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "revision A terminated, now at B: sync",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationFailed, rev: revA, automated: true, retries: 1, ago: time.Second,
				message: "sync interrupted: " + MessageTerminated}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},

		// Running.
		{
			name: "left Running by a stopped controller: resumed, same try",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true, retries: 2}.state(),
			want: Decision{Action: ActionSync, Sync: resumed(autoSync(false, 2, defaultAutoRetry),
				lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true, retries: 2}.state())},
		},
		{
			name: "left Running at the retry limit: still resumed",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true, retries: 5}.state(),
			want: Decision{Action: ActionSync, Sync: resumed(autoSync(false, 5, defaultAutoRetry),
				lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true, retries: 5}.state())},
		},
		{
			name: "left Running, everything in sync by now: resumed (its PostSync hooks and history are owed)",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: synced(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true}.state(),
			want: Decision{Action: ActionSync, Sync: resumed(autoSync(false, 0, defaultAutoRetry),
				lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true}.state())},
		},
		{
			name: "left Running at A, Git now at B: a new sync of B, nothing resumed",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revA, automated: true, retries: 1}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "a dry run left Running: not resumed",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: synced(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true, dryRun: true}.state(),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},

		// Terminated.
		{
			name: "Terminating with an operation nobody runs: finish it",
			app: withStatus(withOperation(newApp(nil), v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{}}),
				lastSync{phase: v1alpha1.OperationTerminating, rev: revB}.state()),
			cmp:  drifted(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revB}.state(),
			want: Decision{Action: ActionFinishTerminated},
		},
		{
			name: "automated sync Terminating, nobody runs it: finish it",
			app: withStatus(newApp(auto(v1alpha1.SyncPolicyAutomated{})),
				lastSync{phase: v1alpha1.OperationTerminating, rev: revB, automated: true}.state()),
			cmp:  drifted(),
			last: lastSync{phase: v1alpha1.OperationTerminating, rev: revB, automated: true}.state(),
			want: Decision{Action: ActionFinishTerminated},
		},
		{
			name: "automated sync of this revision terminated: not again",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{SelfHeal: true})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationFailed, rev: revB, automated: true, ago: time.Hour,
				message: "sync interrupted: " + MessageTerminated}.state(),
			want: Decision{Action: ActionNone, Reason: SkipTerminated},
		},
		{
			name: "terminated requested sync of this revision: automated sync goes on",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationFailed, rev: revB, ago: time.Hour,
				message: "sync interrupted: " + MessageTerminated}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 1, defaultAutoRetry)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(DecisionInput{App: tt.app, Comparison: tt.cmp, LastSync: tt.last, Now: now})
			checkDecision(t, got, tt.want)
		})
	}
}

// checkDecision compares decisions, and shows both in full when they differ.
func checkDecision(t *testing.T, got, want Decision) {
	t.Helper()
	if got.Action != want.Action || got.Reason != want.Reason || !got.RetryAt.Equal(want.RetryAt) ||
		!reflect.DeepEqual(got.Sync, want.Sync) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("Decide =\n%s\nwant\n%s", g, w)
	}
}

// TestDecideSelfHealDelay: a self-heal waits until its drift has been seen
// for SelfHealDelay; nothing else waits.
func TestDecideSelfHealDelay(t *testing.T) {
	const delay = 30 * time.Second
	selfHeal := func() *v1alpha1.Application { return newApp(auto(v1alpha1.SyncPolicyAutomated{SelfHeal: true})) }
	syncedB := lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, automated: true, ago: time.Hour}.state()
	tests := []struct {
		name  string
		app   *v1alpha1.Application
		cmp   *Comparison
		last  *v1alpha1.OperationState
		delay time.Duration
		since time.Time // DriftSince
		want  Decision
	}{
		{
			name: "drift seen less than the delay ago: wait for the rest",
			app:  selfHeal(), cmp: drifted(), last: syncedB, delay: delay, since: now.Add(-10 * time.Second),
			want: Decision{Action: ActionNone, Reason: SkipSelfHealDelay, RetryAt: now.Add(20 * time.Second)},
		},
		{
			name: "drift first seen now (DriftSince zero): wait the whole delay",
			app:  selfHeal(), cmp: drifted(), last: syncedB, delay: delay,
			want: Decision{Action: ActionNone, Reason: SkipSelfHealDelay, RetryAt: now.Add(delay)},
		},
		{
			name: "drift seen after now (another clock): counted from now",
			app:  selfHeal(), cmp: drifted(), last: syncedB, delay: delay, since: now.Add(time.Hour),
			want: Decision{Action: ActionNone, Reason: SkipSelfHealDelay, RetryAt: now.Add(delay)},
		},
		{
			name: "drift seen exactly the delay ago: heal",
			app:  selfHeal(), cmp: drifted(), last: syncedB, delay: delay, since: now.Add(-delay),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "drift seen longer than the delay ago: heal",
			app:  selfHeal(), cmp: drifted(), last: syncedB, delay: delay, since: now.Add(-time.Minute),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "delay 0: heal at once",
			app:  selfHeal(), cmp: drifted(), last: syncedB, since: now,
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "a new revision with a delay: sync at once",
			app:  selfHeal(), cmp: drifted(), delay: delay, since: now,
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revA, automated: true, ago: time.Hour}.state(),
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "nothing synced yet, with a delay: sync at once",
			app:  selfHeal(), cmp: drifted(), delay: delay, since: now,
			want: Decision{Action: ActionSync, Sync: autoSync(false, 0, defaultAutoRetry)},
		},
		{
			name: "a requested sync with a delay: runs at once",
			app: withOperation(selfHeal(), v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{Revision: revB},
				InitiatedBy: v1alpha1.OperationInitiator{Username: "admin"}}),
			cmp: drifted(), last: syncedB, delay: delay, since: now,
			want: Decision{Action: ActionSync, Sync: &SyncRequest{
				Operation: v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{Revision: revB},
					InitiatedBy: v1alpha1.OperationInitiator{Username: "admin"}},
				Revision: revB, Retry: RetryPolicy{Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute},
			}},
		},
		{
			name: "a failed self-heal is retried on its backoff, not the delay",
			app:  selfHeal(), cmp: drifted(), last: failedAuto(revB, 0, time.Minute), delay: delay, since: now,
			want: Decision{Action: ActionSync, Sync: autoSync(false, 1, defaultAutoRetry)},
		},
		{
			name: "an approved deletion with a delay: sync at once to prune",
			app: pendingFor(newApp(auto(v1alpha1.SyncPolicyAutomated{Prune: true, SelfHeal: true})),
				now.Add(-time.Minute), now),
			cmp: toConfirm(), last: syncedB, delay: delay, since: now,
			want: Decision{Action: ActionSync, Sync: autoSync(true, 0, defaultAutoRetry)},
		},
		{
			name: "selfHeal off with a delay: skipped as ever",
			app:  newApp(auto(v1alpha1.SyncPolicyAutomated{})), cmp: drifted(), last: syncedB, delay: delay,
			since: now.Add(-time.Hour),
			want:  Decision{Action: ActionNone, Reason: SkipAlreadySynced},
		},
		{
			name: "in sync again: nothing to do, however old the drift",
			app:  selfHeal(), cmp: synced(), last: syncedB, delay: delay, since: now.Add(-time.Hour),
			want: Decision{Action: ActionNone, Reason: SkipInSync},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(DecisionInput{App: tt.app, Comparison: tt.cmp, LastSync: tt.last, Now: now,
				SelfHealDelay: tt.delay, DriftSince: tt.since})
			checkDecision(t, got, tt.want)
		})
	}
}

type requestedCase struct {
	name   string
	policy *v1alpha1.SyncPolicy
	op     v1alpha1.Operation
	cmp    *Comparison
	last   *v1alpha1.OperationState
	want   *SyncRequest
}

func TestDecideRequested(t *testing.T) {
	op := v1alpha1.Operation{
		Sync: &v1alpha1.SyncOperation{Prune: true, DryRun: true, SyncOptions: []string{"ServerSideApply=true"},
			Resources: []v1alpha1.SyncOperationResource{
				{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"},
				{Kind: "Namespace", Name: "apps"},
			}},
		InitiatedBy: v1alpha1.OperationInitiator{Username: "admin"},
		Retry:       v1alpha1.RetryStrategy{Limit: 3},
	}
	policy := &v1alpha1.SyncPolicy{SyncOptions: []string{"CreateNamespace=true"}}
	wantReq := &SyncRequest{
		Operation: op,
		Revision:  "main", // spec.source.targetRevision
		Prune:     true, DryRun: true,
		Options: []string{"CreateNamespace=true", "ServerSideApply=true"},
		Only: []fsync.Key{
			{Group: "apps", Kind: "Deployment", Namespace: "apps", Name: "web"},
			{Kind: "Namespace", Name: "apps"},
		},
		Retry: RetryPolicy{Limit: 3, Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute},
	}
	withCount := func(n int64) *SyncRequest {
		r := *wantReq
		r.RetryCount = n
		return &r
	}
	tests := []requestedCase{
		{name: "no sync policy, in sync: runs", policy: nil, op: op, cmp: synced(),
			want: func() *SyncRequest { r := withCount(0); r.Options = []string{"ServerSideApply=true"}; return r }()},
		{name: "options merged with the sync policy's", policy: policy, op: op, cmp: drifted(), want: withCount(0)},
		{name: "explicit revision kept", policy: policy, cmp: drifted(),
			op: func() v1alpha1.Operation { o := *op.DeepCopy(); o.Sync.Revision = revA; return o }(),
			want: func() *SyncRequest {
				r := withCount(0)
				r.Operation = *op.DeepCopy()
				r.Operation.Sync.Revision = revA
				r.Revision = revA
				return r
			}()},
		{name: "while the last sync is Running: runs", policy: policy, op: op, cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationRunning, rev: revB, automated: true, retries: 2}.state(),
			want: withCount(0)},
		{name: "retry limit of automated syncs does not apply", policy: auto(v1alpha1.SyncPolicyAutomated{}), op: op, cmp: drifted(),
			last: failedAuto(revB, 5, time.Second),
			want: func() *SyncRequest { r := withCount(0); r.Options = []string{"ServerSideApply=true"}; return r }()},
		{name: "after a failed requested sync: counts the retry", policy: policy, op: op, cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationFailed, rev: revB, retries: 1, ago: time.Second}.state(),
			want: withCount(2)},
		func() requestedCase {
			real := *op.DeepCopy()
			real.Sync.DryRun = false
			left := &v1alpha1.OperationState{Operation: *real.DeepCopy(), Phase: v1alpha1.OperationRunning,
				StartedAt: metav1.NewTime(now.Add(-time.Minute)), RetryCount: 1}
			want := withCount(1)
			want.Operation, want.DryRun, want.Resume = *real.DeepCopy(), false, left
			return requestedCase{name: "this operation left Running by a stopped controller: resumed, same try", policy: policy, op: real,
				cmp: synced(), last: left, want: want}
		}(),
		{name: "after a succeeded requested sync: first try", policy: policy, op: op, cmp: drifted(),
			last: lastSync{phase: v1alpha1.OperationSucceeded, rev: revB, retries: 1, ago: time.Second}.state(),
			want: withCount(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := withOperation(newApp(tt.policy), tt.op)
			got := Decide(DecisionInput{App: app, Comparison: tt.cmp, LastSync: tt.last, Now: now})
			want := Decision{Action: ActionSync, Sync: tt.want}
			checkDecision(t, got, want)
			// The request is the controller's to keep: it shares nothing
			// with the Application.
			got.Sync.Operation.Sync.Revision = "changed"
			got.Sync.Options = append(got.Sync.Options[:0], "changed")
			if app.Operation.Sync.Revision == "changed" || slices.Contains(app.Operation.Sync.SyncOptions, "changed") ||
				(app.Spec.SyncPolicy != nil && slices.Contains(app.Spec.SyncPolicy.SyncOptions, "changed")) {
				t.Error("the sync request shares memory with the Application")
			}
		})
	}
}

func TestRetryPolicyOf(t *testing.T) {
	def := RetryPolicy{Duration: 5 * time.Second, Factor: 2, Max: 3 * time.Minute}
	with := func(limit int64) RetryPolicy { p := def; p.Limit = limit; return p }
	tests := []struct {
		name      string
		rs        *v1alpha1.RetryStrategy
		automated bool
		want      RetryPolicy
	}{
		{"automated, none", nil, true, with(5)},
		{"requested, none", nil, false, with(0)},
		{"automated, zero limit is the default", &v1alpha1.RetryStrategy{}, true, with(5)},
		{"requested, zero limit", &v1alpha1.RetryStrategy{}, false, with(0)},
		{"automated, limit 2", &v1alpha1.RetryStrategy{Limit: 2}, true, with(2)},
		{"requested, limit 2", &v1alpha1.RetryStrategy{Limit: 2}, false, with(2)},
		{"automated, forever", &v1alpha1.RetryStrategy{Limit: -1}, true, with(1 << 62)},
		{"requested, forever", &v1alpha1.RetryStrategy{Limit: -3}, false, with(1 << 62)},
		{"custom backoff", &v1alpha1.RetryStrategy{Limit: 1, Backoff: &v1alpha1.Backoff{
			Duration: "30s", Factor: ptr.To[int64](4), MaxDuration: "1h"}}, true,
			RetryPolicy{Limit: 1, Duration: 30 * time.Second, Factor: 4, Max: time.Hour}},
		{"invalid or non-positive backoff fields take the defaults", &v1alpha1.RetryStrategy{Limit: 1, Backoff: &v1alpha1.Backoff{
			Duration: "soon", Factor: ptr.To[int64](0), MaxDuration: "-1m"}}, true, with(1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RetryPolicyOf(tt.rs, tt.automated); got != tt.want {
				t.Errorf("RetryPolicyOf = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	def := RetryPolicyOf(nil, true)
	huge := RetryPolicy{Duration: 1500000 * time.Hour, Factor: 2, Max: 2000000 * time.Hour}
	tests := []struct {
		p       RetryPolicy
		attempt int64
		want    time.Duration
	}{
		{def, 0, 5 * time.Second},
		{def, 1, 10 * time.Second},
		{def, 2, 20 * time.Second},
		{def, 5, 160 * time.Second},
		{def, 6, 3 * time.Minute},
		{def, 1000, 3 * time.Minute},
		{RetryPolicy{Duration: time.Minute, Factor: 3, Max: 10 * time.Minute}, 2, 9 * time.Minute},
		{RetryPolicy{Duration: time.Minute, Factor: 3, Max: 10 * time.Minute}, 3, 10 * time.Minute},
		{RetryPolicy{Duration: time.Hour, Factor: 2, Max: time.Minute}, 0, time.Minute},
		{RetryPolicy{Duration: time.Second, Factor: 1, Max: time.Minute}, 50, time.Second},
		// A product past int64 is capped, not wrapped around.
		{huge, 1, huge.Max},
		{RetryPolicy{Duration: time.Hour, Factor: 1 << 40, Max: 2000000 * time.Hour}, 2, 2000000 * time.Hour},
	}
	for _, tt := range tests {
		if got := tt.p.Backoff(tt.attempt); got != tt.want {
			t.Errorf("%+v.Backoff(%d) = %s, want %s", tt.p, tt.attempt, got, tt.want)
		}
	}
}
