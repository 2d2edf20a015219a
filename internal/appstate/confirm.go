package appstate

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// Deletion confirmation (Argo CD's Prune=confirm and Delete=confirm): an
// object marked so is deleted only once the Application's annotation
// argocd.argoproj.io/deletion-approved holds a time newer than the request.
//
// Where the request is recorded: for a prune, in the Application's
// DeletionConfirmationPending condition. Its message names the objects
// asked about; its lastTransitionTime is when they were first asked about.
// Argo CD takes the start of the sync operation that waits instead, but a
// Ferry sync does not wait: it prunes everything else, ends, and holds the
// marked objects until a later sync, so no operation spans the request. The
// condition does, and it is written in the same status as the sync result
// the user reads. For a deletion, the request is the Application's
// deletionTimestamp, as in Argo CD; the condition only names what waits.

// ConfirmationLead starts the message of a DeletionConfirmationPending
// condition; the waiting objects follow, each quoted, separated by ", ".
const ConfirmationLead = "waiting for confirmation to delete "

// ConfirmationMessage is the message of app's DeletionConfirmationPending
// condition naming keys: held prunes, or, when deleting, the objects its
// cascading deletion waits for.
func ConfirmationMessage(app *v1alpha1.Application, keys []fsync.Key, deleting bool) string {
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k.String())
	}
	cmd := "ferry app confirm-deletion " + app.Name
	if app.Namespace != "" {
		cmd += " -n " + app.Namespace
	}
	if deleting {
		return fmt.Sprintf("%s%s (Delete=confirm or Prune=confirm) before the application is deleted: approve with `%s` (annotation %s, an RFC 3339 time after the deletion began)",
			ConfirmationLead, strings.Join(quoted, ", "), cmd, fsync.DeletionApprovedAnnotation)
	}
	return fmt.Sprintf("%s%s (Prune=confirm): approve with `%s` (annotation %s, an RFC 3339 time after this condition's lastTransitionTime), and the next sync prunes them",
		ConfirmationLead, strings.Join(quoted, ", "), cmd, fsync.DeletionApprovedAnnotation)
}

// ConfirmationKeys reads the objects a DeletionConfirmationPending
// condition's message names (see ConfirmationMessage).
func ConfirmationKeys(msg string) []fsync.Key {
	rest, ok := strings.CutPrefix(msg, ConfirmationLead)
	if !ok {
		return nil
	}
	var keys []fsync.Key
	for {
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return keys
		}
		s, _ := strconv.Unquote(q)
		if k, ok := parseKey(s); ok {
			keys = append(keys, k)
		}
		if rest, ok = strings.CutPrefix(rest[len(q):], ", "); !ok {
			return keys
		}
	}
}

// parseKey reads a key as fsync.Key.String formats it: "group/kind
// namespace/name", "kind name". Kinds, groups and namespaces hold neither
// spaces nor slashes, names no slashes.
func parseKey(s string) (fsync.Key, bool) {
	gk, obj, ok := strings.Cut(s, " ")
	if !ok || gk == "" || obj == "" {
		return fsync.Key{}, false
	}
	var k fsync.Key
	if i := strings.LastIndexByte(gk, '/'); i >= 0 {
		k.Group, k.Kind = gk[:i], gk[i+1:]
	} else {
		k.Kind = gk
	}
	if ns, name, ok := strings.Cut(obj, "/"); ok {
		k.Namespace, k.Name = ns, name
	} else {
		k.Name = obj
	}
	return k, k.Kind != "" && k.Name != ""
}

// ConfirmationOf reads what approves deletions of app's objects marked
// Prune=confirm: the objects its DeletionConfirmationPending condition asks
// about and when it first asked (the condition's lastTransitionTime), and
// the approval (DeletionApprovedAt).
func ConfirmationOf(app *v1alpha1.Application) fsync.Confirmation {
	c := fsync.Confirmation{ApprovedAt: DeletionApprovedAt(app)}
	if cond := PendingConfirmation(app); cond != nil && cond.LastTransitionTime != nil {
		c.Requested, c.RequestedAt = ConfirmationKeys(cond.Message), cond.LastTransitionTime.Time
	}
	return c
}

// PendingConfirmation is app's DeletionConfirmationPending condition; nil
// when it has none.
func PendingConfirmation(app *v1alpha1.Application) *v1alpha1.ApplicationCondition {
	i := slices.IndexFunc(app.Status.Conditions, func(c v1alpha1.ApplicationCondition) bool {
		return c.Type == v1alpha1.ApplicationConditionDeletionConfirmationPending
	})
	if i < 0 {
		return nil
	}
	return &app.Status.Conditions[i]
}

// DeletionApprovedAt is app's approval: its annotation
// argocd.argoproj.io/deletion-approved read as an RFC 3339 time; zero when
// absent or not such a time (which approves nothing, as in Argo CD).
func DeletionApprovedAt(app *v1alpha1.Application) time.Time {
	t, err := time.Parse(time.RFC3339, app.Annotations[fsync.DeletionApprovedAnnotation])
	if err != nil {
		return time.Time{}
	}
	return t
}

// awaits reports whether conf asked about k and does not approve it yet.
func awaits(conf fsync.Confirmation, k fsync.Key) bool {
	return slices.Contains(conf.Requested, k) && !conf.Approves(k)
}
