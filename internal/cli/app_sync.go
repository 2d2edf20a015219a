package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appview"
)

type syncOptions struct {
	revision  string
	revisions []string
	positions []int64
	prune     bool
	dryRun    bool
	resources []string
	async     bool
	timeout   time.Duration
}

func newAppSyncCmd(o *kubeOptions) *cobra.Command {
	s := &syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync NAME...",
		Short: "Sync Applications: ask the controller to apply Git's state, and follow it",
		Example: `  ferry app sync myapp-production
  ferry app sync myapp-production --revision abc123
  ferry app sync mychart --revisions 1.4.0 --source-positions 1
  ferry app sync myapp-staging --prune --resource apps:Deployment:myapp`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			resources, err := appview.ParseResources(s.resources)
			if err != nil {
				return err
			}
			req := appview.SyncRequest{Revision: s.revision, Revisions: s.revisions, Positions: s.positions,
				Prune: s.prune, DryRun: s.dryRun, Resources: resources, Username: username()}
			// The flags alone first: a mistake in them is one error, not
			// one per Application.
			if _, err := appview.SyncOperation(req); err != nil {
				return err
			}
			var failed []string
			for _, name := range args {
				if err := s.sync(cmd.Context(), cmd.OutOrStdout(), c, client.ObjectKey{Namespace: o.namespace, Name: name}, req); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", name, err)
					failed = append(failed, name)
				}
			}
			if len(failed) > 0 {
				return fmt.Errorf("sync failed: %s", strings.Join(failed, ", "))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&s.revision, "revision", "", "sync to this revision (branch, tag, commit, or a chart's version) instead of the target revision")
	f.StringArrayVar(&s.revisions, "revisions", nil, "for an Application with several sources: sync this source to this revision (repeatable; by position, or at the matching --source-positions)")
	f.Int64SliceVar(&s.positions, "source-positions", nil, "the 1-based positions in spec.sources that --revisions apply to (repeatable)")
	f.BoolVar(&s.prune, "prune", false, "delete managed objects that are no longer in Git")
	f.BoolVar(&s.dryRun, "dry-run", false, "plan the sync without applying anything")
	f.StringArrayVar(&s.resources, "resource", nil, "sync only this object, as GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME (repeatable)")
	f.BoolVar(&s.async, "async", false, "do not wait for the sync to finish")
	f.DurationVar(&s.timeout, "timeout", 5*time.Minute, "how long to wait for the sync")
	return cmd
}

// sync asks for the sync of one Application and follows it.
func (s *syncOptions) sync(ctx context.Context, out io.Writer, c client.Client, key client.ObjectKey, req appview.SyncRequest) error {
	app, err := getApp(ctx, c, key)
	if err != nil {
		return err
	}
	req.App = app
	op, err := appview.SyncOperation(req)
	if err != nil {
		return err
	}
	return runOperation(ctx, out, c, key, op, s.async, s.timeout)
}

func username() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "ferry-cli"
}

// runOperation writes op into the Application (appview.StartOperation),
// and unless async follows it to its end, printing the result.
func runOperation(ctx context.Context, out io.Writer, c client.Client, key client.ObjectKey, op v1alpha1.Operation, async bool, timeout time.Duration) error {
	asked := time.Now().Add(-time.Second) // status times have a one-second resolution
	if err := appview.StartOperation(ctx, c, key, op); err != nil {
		return err
	}
	if async {
		fmt.Fprintf(out, "Sync of %s requested\n", key.Name)
		return nil
	}
	state, err := followOperation(ctx, out, c, key, asked, timeout)
	if err != nil {
		return err
	}
	printOperation(out, key.Name, state)
	if state.Phase != v1alpha1.OperationSucceeded {
		return fmt.Errorf("operation %s: %s", state.Phase, state.Message)
	}
	return nil
}

// heldBy is the message of a sync window holding the Application's pending
// operation, or "".
func heldBy(app *v1alpha1.Application) string {
	if app.Operation == nil {
		return ""
	}
	for _, c := range app.Status.Conditions {
		if c.Type == v1alpha1.ApplicationConditionSyncWindowBlocked {
			return c.Message
		}
	}
	return ""
}

// followOperation waits until the operation asked for at asked has finished:
// the controller removed it from the Application and recorded its state.
// While it runs, a line is printed for each resource result as the
// controller reports it (per phase and wave once syncs run in waves).
func followOperation(ctx context.Context, out io.Writer, c client.Client, key client.ObjectKey, asked time.Time, timeout time.Duration) (*v1alpha1.OperationState, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	printed := map[string]bool{}
	fmt.Fprintf(out, "Syncing %s...\n", key.Name)
	var final *v1alpha1.OperationState
	err := pollApp(ctx, c, key, func(app *v1alpha1.Application, err error) (bool, error) {
		if err != nil {
			return false, fmt.Errorf("follow the operation on %s: %w", key, err)
		}
		if msg := heldBy(app); msg != "" && !printed[msg] {
			printed[msg] = true
			fmt.Fprintf(out, "Held: %s; the operation stays pending until then\n", msg)
		}
		st := app.Status.OperationState
		if st == nil || st.StartedAt.Time.Before(asked) {
			return false, nil
		}
		if st.FinishedAt == nil {
			for _, line := range progressLines(app, printed) {
				fmt.Fprintln(out, line)
			}
		}
		if app.Operation == nil && st.FinishedAt != nil {
			final = st
			return true, nil
		}
		return false, nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("the operation on %s did not finish within %s", key, timeout)
	}
	return final, err
}

// progressLines returns a line for each resource result of the running
// operation not printed yet, and again when its state changes (a hook
// Running, then Succeeded): phase, wave, object, result.
func progressLines(app *v1alpha1.Application, printed map[string]bool) []string {
	st := app.Status.OperationState
	if st == nil || st.SyncResult == nil {
		return nil
	}
	var lines []string
	for _, r := range st.SyncResult.Resources {
		result := resultOf(r)
		id := strings.Join([]string{r.Group, r.Kind, r.Namespace, r.Name, string(r.SyncPhase), result}, "/")
		if printed[id] {
			continue
		}
		printed[id] = true
		kind := r.Kind
		if r.HookType != "" {
			kind = string(r.HookType) + " hook " + kind
		}
		lines = append(lines, fmt.Sprintf("  %s wave %d  %s %s/%s: %s (%s)", orNone(string(r.SyncPhase)), r.SyncWave, kind, r.Namespace, r.Name, result, r.Message))
	}
	return lines
}

// resultOf is a result's status, with the hook's or rollout's phase when
// the sync waited on it ("Synced Running", "Succeeded" for a hook).
func resultOf(r v1alpha1.ResourceResult) string {
	return strings.TrimSpace(string(r.Status) + " " + string(r.HookPhase))
}

func printOperation(w io.Writer, name string, st *v1alpha1.OperationState) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", name)
	fmt.Fprintf(tw, "Operation:\tSync\n")
	if st.SyncResult != nil {
		rev := st.SyncResult.Revision
		if len(st.SyncResult.Revisions) > 0 {
			rev = strings.Join(st.SyncResult.Revisions, ", ")
		}
		fmt.Fprintf(tw, "Sync Revision:\t%s\n", rev)
	}
	fmt.Fprintf(tw, "Phase:\t%s\n", st.Phase)
	fmt.Fprintf(tw, "Start:\t%s\n", st.StartedAt.Format(time.RFC3339))
	if st.FinishedAt != nil {
		fmt.Fprintf(tw, "Finished:\t%s\n", st.FinishedAt.Format(time.RFC3339))
	}
	fmt.Fprintf(tw, "Message:\t%s\n\n", st.Message)
	if st.SyncResult != nil {
		fmt.Fprintln(tw, "PHASE\tWAVE\tGROUP\tKIND\tNAMESPACE\tNAME\tSTATUS\tHOOK\tMESSAGE")
		for _, r := range st.SyncResult.Resources {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orNone(string(r.SyncPhase)), r.SyncWave, r.Group, r.Kind,
				r.Namespace, r.Name, orNone(resultOf(r)), orNone(string(r.HookType)), r.Message)
		}
	}
	_ = tw.Flush()
}

type rollbackOptions struct {
	prune, disableAutoSync bool
	timeout                time.Duration
}

func newAppRollbackCmd(o *kubeOptions) *cobra.Command {
	r := &rollbackOptions{}
	cmd := &cobra.Command{
		Use:   "rollback NAME [ID]",
		Short: "Sync an Application to the revision of a history entry (default: the previous one)",
		Example: `  ferry app history myapp-production
  ferry app rollback myapp-production 3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := appview.PreviousEntry
			if len(args) > 1 {
				var err error
				if id, err = strconv.ParseInt(args[1], 10, 64); err != nil {
					return fmt.Errorf("history id %q is not a number", args[1])
				}
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			return r.rollback(cmd.Context(), cmd.OutOrStdout(), c, client.ObjectKey{Namespace: o.namespace, Name: args[0]}, id)
		},
	}
	cmd.Flags().BoolVar(&r.prune, "prune", false, "delete managed objects that the old revision does not have")
	cmd.Flags().BoolVar(&r.disableAutoSync, "disable-auto-sync", false, "turn automated sync off, then roll back")
	cmd.Flags().DurationVar(&r.timeout, "timeout", 5*time.Minute, "how long to wait for the rollback")
	return cmd
}

// rollback syncs the Application to history entry id, turning auto-sync
// off first with --disable-auto-sync, once the rollback is known to fit.
func (r *rollbackOptions) rollback(ctx context.Context, out io.Writer, c client.Client, key client.ObjectKey, id int64) error {
	app, err := getApp(ctx, c, key)
	if err != nil {
		return err
	}
	automated := app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil
	checked := app
	if automated && r.disableAutoSync {
		checked = app.DeepCopy() // as it will be once auto-sync is off
		checked.Spec.SyncPolicy.Automated = nil
	}
	op, err := appview.RollbackOperation(checked, id, username(), r.prune)
	if err != nil {
		return err
	}
	if automated {
		if err := appview.DisableAutoSync(ctx, c, app); err != nil {
			return err
		}
		fmt.Fprintf(out, "Auto-sync of %s disabled\n", key.Name)
	}
	return runOperation(ctx, out, c, key, op, false, r.timeout)
}

func newAppWaitCmd(o *kubeOptions) *cobra.Command {
	var sync, health, operation bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:     "wait NAME...",
		Short:   "Wait until Applications are synced, healthy and have no operation running",
		Example: "  ferry app wait myapp-staging --health --timeout 2m",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			if !sync && !health && !operation {
				sync, health, operation = true, true, true
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			for _, name := range args {
				if err := waitApp(ctx, c, client.ObjectKey{Namespace: o.namespace, Name: name}, sync, health, operation); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: ready\n", name)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&sync, "sync", false, "wait for sync status Synced")
	cmd.Flags().BoolVar(&health, "health", false, "wait for health Healthy")
	cmd.Flags().BoolVar(&operation, "operation", false, "wait until no operation is running")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait")
	return cmd
}

func waitApp(ctx context.Context, c client.Client, key client.ObjectKey, sync, health, operation bool) error {
	var last string
	err := pollApp(ctx, c, key, func(app *v1alpha1.Application, err error) (bool, error) {
		if err != nil {
			return false, fmt.Errorf("wait for %s: %w", key, err)
		}
		last = fmt.Sprintf("sync %s, health %s, operation running: %v", app.Status.Sync.Status, app.Status.Health.Status, app.Operation != nil)
		return (!sync || app.Status.Sync.Status == v1alpha1.SyncStatusCodeSynced) &&
			(!health || app.Status.Health.Status == v1alpha1.HealthStatusHealthy) &&
			(!operation || app.Operation == nil), nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s not ready: %s", key.Name, last)
	}
	return err
}
