package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/appstate"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// newAppConfirmDeletionCmd approves, as argocd app confirm-deletion does,
// the deletion of an Application's objects marked Prune=confirm or
// Delete=confirm: it sets the Application's
// argocd.argoproj.io/deletion-approved to now (RFC 3339, UTC), which
// approves every confirmation requested before now, and none requested
// later.
func newAppConfirmDeletionCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "confirm-deletion NAME",
		Short: "Approve pruning (Prune=confirm) or deleting (Delete=confirm) the Application's objects that wait for it",
		Long: `Approve pruning (Prune=confirm) or deleting (Delete=confirm) the objects of an Application that wait
for confirmation: sets the annotation argocd.argoproj.io/deletion-approved to now. Objects whose
confirmation was requested before now go: held prunes at the next sync (at once for an automated
Application), a waiting cascading deletion at once. Objects asked about later need a new approval.`,
		Example: "  ferry app confirm-deletion myapp-production",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			key := client.ObjectKey{Namespace: o.namespace, Name: args[0]}
			var waiting []fsync.Key
			var deleting bool
			var at time.Time
			// Optimistic lock: what is printed as approved is what waited
			// when the approval was written; a status write in between (a
			// sync naming another object) is read again.
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				app, err := getApp(ctx, c, key)
				if err != nil {
					return err
				}
				var requested time.Time
				waiting, deleting = nil, !app.DeletionTimestamp.IsZero()
				if cond := appstate.PendingConfirmation(app); cond != nil {
					waiting = appstate.ConfirmationKeys(cond.Message)
					if cond.LastTransitionTime != nil {
						requested = cond.LastTransitionTime.Time
					}
				}
				if deleting && app.DeletionTimestamp.After(requested) {
					requested = app.DeletionTimestamp.Time
				}
				if at, err = approvalTime(ctx, time.Now(), requested); err != nil {
					return err
				}
				patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
				if app.Annotations == nil {
					app.Annotations = map[string]string{}
				}
				app.Annotations[fsync.DeletionApprovedAnnotation] = at.Format(time.RFC3339)
				return c.Patch(ctx, app, patch)
			})
			if err != nil {
				return fmt.Errorf("confirm deletion for %s: %w", key, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Application '%s': deletion approved at %s\n", args[0], at.Format(time.RFC3339))
			if len(waiting) == 0 {
				fmt.Fprintln(out, "No object was waiting for confirmation.")
				return nil
			}
			what := "pruned by the next sync"
			if deleting {
				what = "deleted with the application"
			}
			fmt.Fprintf(out, "Waiting for confirmation, now %s:\n", what)
			for _, k := range waiting {
				fmt.Fprintf(out, "  %s\n", k)
			}
			return nil
		},
	}
}

// approvalTime is the approval to write: now, to the second, in UTC, and
// strictly after requested, the request it answers (the controller
// compares to the second and needs a newer approval). When now is in the
// request's second, it waits for the next one rather than write a time
// still to come; a request further ahead means the clocks disagree.
func approvalTime(ctx context.Context, now, requested time.Time) (time.Time, error) {
	at := now.UTC().Truncate(time.Second)
	if requested.IsZero() {
		return at, nil
	}
	req := requested.UTC().Truncate(time.Second)
	if at.After(req) {
		return at, nil
	}
	wait := req.Add(time.Second).Sub(now)
	if wait > 2*time.Second {
		return time.Time{}, fmt.Errorf("confirmation was requested at %s, after this machine's clock (%s): compare the clocks and try again",
			req.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	select {
	case <-ctx.Done():
		return time.Time{}, ctx.Err()
	case <-time.After(wait):
	}
	return req.Add(time.Second), nil
}
