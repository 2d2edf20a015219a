package sync

import (
	"slices"
	"time"
)

// DeletionApprovedAnnotation, on an Application, approves the deletion of
// the objects marked Prune=confirm or Delete=confirm whose confirmation was
// requested before the time it holds (RFC 3339), as Argo CD reads it.
// `argocd app confirm-deletion` and `ferry app confirm-deletion` write it.
const DeletionApprovedAnnotation = "argocd.argoproj.io/deletion-approved"

// Confirmation is what approves the deletion of objects that ask for it
// (Prune=confirm, Delete=confirm): which objects confirmation was asked
// for, when, and when deletion was last approved. It holds times, not a
// clock: the caller reads them from the Application.
type Confirmation struct {
	// Requested are the objects whose confirmation was asked for at
	// RequestedAt. An object not among them has not been asked about, so
	// no approval covers it yet.
	Requested []Key
	// RequestedAt is when confirmation of Requested was first asked for;
	// zero when it was not.
	RequestedAt time.Time
	// ApprovedAt is the Application's approval
	// (DeletionApprovedAnnotation); zero when none, or not a time.
	ApprovedAt time.Time
}

// Approves reports whether the deletion of k is approved: k was asked
// about, and the approval is newer than the request.
func (c Confirmation) Approves(k Key) bool {
	return slices.Contains(c.Requested, k) && Approved(c.ApprovedAt, c.RequestedAt)
}

// Approved reports whether an approval given at approvedAt answers a request
// made at requestedAt: both are set and the approval is strictly newer. They
// are compared to the second, the precision of both (an RFC 3339 annotation,
// a metav1.Time in status): an approval written in the second of the request
// may predate it, and does not count, so an approval left from an earlier
// request never approves a new one.
func Approved(approvedAt, requestedAt time.Time) bool {
	if approvedAt.IsZero() || requestedAt.IsZero() {
		return false
	}
	return approvedAt.Truncate(time.Second).After(requestedAt.Truncate(time.Second))
}

// DeletionInput is everything the cascading deletion of an Application
// depends on.
type DeletionInput struct {
	// App is the Application's name, as written in tracking annotations.
	App string
	// Live describes the live objects of the Application's inventory that
	// exist.
	Live map[Key]LiveInfo
	// MayDelete, when set, is asked before each deletion; a non-empty
	// answer (why not) keeps the object, reported in DeletionPlan.Denied.
	MayDelete func(Key) string
	// ApprovedAt is the Application's approval (DeletionApprovedAnnotation);
	// zero when none.
	ApprovedAt time.Time
	// RequestedAt is when the deletion was asked for: the Application's
	// deletionTimestamp, as in Argo CD, for every object that asks for
	// confirmation.
	RequestedAt time.Time
}

// DeletionPlan is what the cascading deletion of an Application does.
type DeletionPlan struct {
	// Delete are the objects to delete now.
	Delete []Key
	// Kept are the objects marked Delete=false: left in place for good.
	Kept []Key
	// Denied are the objects MayDelete refused to delete.
	Denied []Denied
	// Held are the objects marked Delete=confirm or Prune=confirm whose
	// deletion is not approved yet: the Application waits for them.
	Held []Key
}

// PlanDeletion decides what deleting an Application with cascade deletes.
// It deletes only objects the Application owns, never one marked
// Delete=false, and one marked Delete=confirm or Prune=confirm (as Argo CD
// asks for both) only once an approval newer than the deletion came;
// Delete=false and MayDelete win over an approval.
func PlanDeletion(in DeletionInput) DeletionPlan {
	var p DeletionPlan
	approved := Approved(in.ApprovedAt, in.RequestedAt)
	for k, live := range in.Live {
		if live.Owner != in.App {
			continue
		}
		if live.DeleteDisabled {
			p.Kept = append(p.Kept, k)
			continue
		}
		if in.MayDelete != nil {
			if why := in.MayDelete(k); why != "" {
				p.Denied = append(p.Denied, Denied{Key: k, Reason: why})
				continue
			}
		}
		if (live.DeleteConfirm || live.PruneConfirm) && !approved {
			p.Held = append(p.Held, k)
			continue
		}
		p.Delete = append(p.Delete, k)
	}
	slices.SortFunc(p.Delete, CompareKeys)
	slices.SortFunc(p.Kept, CompareKeys)
	slices.SortFunc(p.Held, CompareKeys)
	slices.SortFunc(p.Denied, func(a, b Denied) int { return CompareKeys(a.Key, b.Key) })
	return p
}
