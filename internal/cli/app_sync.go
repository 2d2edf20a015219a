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
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/project"
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
			resources, err := parseResources(s.resources)
			if err != nil {
				return err
			}
			if len(s.positions) > 0 && len(s.positions) != len(s.revisions) {
				return fmt.Errorf("--source-positions: %d given for %d --revisions; give one position per revision", len(s.positions), len(s.revisions))
			}
			if s.revision != "" && len(s.revisions) > 0 {
				return errors.New("--revision is for an Application with one source, --revisions for one with several: give one of them")
			}
			var failed []string
			for _, name := range args {
				if err := s.checkRevisions(cmd.Context(), c, client.ObjectKey{Namespace: o.namespace, Name: name}); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", name, err)
					failed = append(failed, name)
					continue
				}
				op := v1alpha1.Operation{
					Sync: &v1alpha1.SyncOperation{Revision: s.revision, Revisions: s.revisions, SourcePositions: s.positions,
						Prune: s.prune, DryRun: s.dryRun, Resources: resources},
					InitiatedBy: v1alpha1.OperationInitiator{Username: username()},
				}
				if err := runOperation(cmd.Context(), cmd.OutOrStdout(), c, client.ObjectKey{Namespace: o.namespace, Name: name}, op, s.async, s.timeout); err != nil {
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

// checkRevisions refuses revision flags that do not fit the Application,
// rather than sync to something else than asked: --revision names the one
// source of an Application, --revisions (at --source-positions) those of
// one with several.
func (s *syncOptions) checkRevisions(ctx context.Context, c client.Client, key client.ObjectKey) error {
	if s.revision == "" && len(s.revisions) == 0 {
		return nil
	}
	app, err := getApp(ctx, c, key)
	if err != nil {
		return err
	}
	n := len(appstate.Sources(app))
	switch {
	case appstate.MultiSource(app) && s.revision != "":
		return fmt.Errorf("it has %d sources: give --revisions (and --source-positions), not --revision", n)
	case !appstate.MultiSource(app) && len(s.revisions) > 0:
		return errors.New("it has one source: give --revision, not --revisions")
	case len(s.positions) == 0 && len(s.revisions) > n:
		return fmt.Errorf("%d --revisions for %d sources", len(s.revisions), n)
	}
	for _, p := range s.positions {
		if p < 1 || int(p) > n {
			return fmt.Errorf("--source-positions %d: it has sources 1 to %d", p, n)
		}
	}
	return nil
}

// parseResources reads --resource GROUP:KIND:[NAMESPACE/]NAME values.
func parseResources(specs []string) ([]v1alpha1.SyncOperationResource, error) {
	out := make([]v1alpha1.SyncOperationResource, 0, len(specs))
	for _, spec := range specs {
		parts := strings.Split(spec, ":")
		if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
			return nil, fmt.Errorf("--resource %q: want GROUP:KIND:NAME or GROUP:KIND:NAMESPACE/NAME", spec)
		}
		r := v1alpha1.SyncOperationResource{Group: parts[0], Kind: parts[1], Name: parts[2]}
		if ns, name, ok := strings.Cut(parts[2], "/"); ok {
			r.Namespace, r.Name = ns, name
		}
		out = append(out, r)
	}
	return out, nil
}

func username() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return "ferry-cli"
}

// runOperation writes op into the Application, as Argo CD's API server does,
// and unless async follows it to its end, printing the result.
func runOperation(ctx context.Context, out io.Writer, c client.Client, key client.ObjectKey, op v1alpha1.Operation, async bool, timeout time.Duration) error {
	asked := time.Now().Add(-time.Second) // status times have a one-second resolution
	// The controller writes the Application's status all the time; a write
	// between our read and our patch is a conflict, not a refusal, so read
	// again and retry, as Argo CD's API server does.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		app, err := getApp(ctx, c, key)
		if err != nil {
			return err
		}
		if app.Operation != nil {
			return errors.New("another operation is already in progress")
		}
		if err := windowAllows(ctx, c, app); err != nil {
			return err
		}
		patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
		app.Operation = &op
		if err := c.Patch(ctx, app, patch); err != nil {
			return fmt.Errorf("start the operation on %s: %w", key, err) // IsConflict sees through %w
		}
		return nil
	})
	if err != nil {
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

// windowAllows refuses, as Argo CD's API server does, a sync the
// Application's project's sync windows block now (a requested sync: windows
// with manualSync let it through). A project the user may not read is left
// to the controller, which holds the operation until the window allows it.
func windowAllows(ctx context.Context, c client.Client, app *v1alpha1.Application) error {
	p := &v1alpha1.AppProject{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: project.NameOf(app)}, p); err != nil {
		return nil
	}
	d, err := project.SyncWindowsAllow(p, app, true, time.Now())
	if err != nil {
		return fmt.Errorf("cannot sync %s: %w", app.Name, err)
	}
	if !d.Allowed {
		return fmt.Errorf("cannot sync %s: %s", app.Name, d.Message)
	}
	return nil
}

// syncWindowState says, as `argocd app get` does, whether the project's
// sync windows let the Application sync now: "Sync Allowed", "Manual
// Allowed" (automated syncs are blocked, requested ones are not) or "Sync
// Denied" with the blocking window and until when.
func syncWindowState(ctx context.Context, c client.Client, app *v1alpha1.Application) string {
	p := &v1alpha1.AppProject{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: "argocd", Name: project.NameOf(app)}, p); err != nil {
		return "Unknown (project " + project.NameOf(app) + ": " + err.Error() + ")"
	}
	now := time.Now()
	auto, err := project.SyncWindowsAllow(p, app, false, now)
	if err != nil {
		return "Unknown (" + err.Error() + ")"
	}
	if auto.Allowed {
		return "Sync Allowed"
	}
	if manual, err := project.SyncWindowsAllow(p, app, true, now); err == nil && manual.Allowed {
		return "Manual Allowed"
	}
	return "Sync Denied: " + auto.Message
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

func newAppRollbackCmd(o *kubeOptions) *cobra.Command {
	var prune, disableAutoSync bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback NAME [ID]",
		Short: "Sync an Application to the revision of a history entry (default: the previous one)",
		Example: `  ferry app history myapp-production
  ferry app rollback myapp-production 3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			key := client.ObjectKey{Namespace: o.namespace, Name: args[0]}
			app, err := getApp(ctx, c, key)
			if err != nil {
				return err
			}
			automated := app.Spec.SyncPolicy != nil && app.Spec.SyncPolicy.Automated != nil
			if automated && !disableAutoSync {
				return fmt.Errorf("rollback cannot be initiated when auto-sync is enabled: it would sync back to the target revision at once; pass --disable-auto-sync to turn auto-sync off and roll back")
			}
			entry, err := historyEntry(app, args[1:])
			if err != nil {
				return err
			}
			if err := sameSources(app, entry); err != nil {
				return err
			}
			if automated {
				patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"syncPolicy":{"automated":null}}}`))
				if err := c.Patch(ctx, app, patch); err != nil {
					return fmt.Errorf("disable auto-sync of %s: %w", key, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Auto-sync of %s disabled\n", key.Name)
			}
			op := v1alpha1.Operation{
				Sync:        &v1alpha1.SyncOperation{Revision: entry.Revision, Revisions: entry.Revisions, Prune: prune},
				InitiatedBy: v1alpha1.OperationInitiator{Username: username()},
			}
			return runOperation(ctx, cmd.OutOrStdout(), c, key, op, false, timeout)
		},
	}
	cmd.Flags().BoolVar(&prune, "prune", false, "delete managed objects that the old revision does not have")
	cmd.Flags().BoolVar(&disableAutoSync, "disable-auto-sync", false, "turn automated sync off, then roll back")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the rollback")
	return cmd
}

// historyEntry finds the entry of id args[0], or the one before the latest.
// sameSources refuses a rollback to an entry deployed from other sources
// than the spec's (added, removed, reordered, or another repository or
// chart): its revisions, by position, would go to the wrong sources.
func sameSources(app *v1alpha1.Application, h v1alpha1.RevisionHistory) error {
	then := h.Sources
	if len(h.Revisions) == 0 {
		then = v1alpha1.ApplicationSources{h.Source}
	}
	now := appstate.Sources(app)
	same := len(then) == len(now)
	for i := 0; same && i < len(now); i++ {
		same = then[i].RepoURL == now[i].RepoURL && then[i].Chart == now[i].Chart && then[i].Path == now[i].Path
	}
	if !same {
		return fmt.Errorf("history entry %d was deployed from other sources than spec.source(s) has now: roll back by editing the spec, or sync with --revision(s)", h.ID)
	}
	return nil
}

func historyEntry(app *v1alpha1.Application, args []string) (v1alpha1.RevisionHistory, error) {
	h := app.Status.History
	if len(args) == 0 {
		if len(h) < 2 {
			return v1alpha1.RevisionHistory{}, fmt.Errorf("application %s has no previous deployment to roll back to", app.Name)
		}
		return h[len(h)-2], nil
	}
	id, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil {
		return v1alpha1.RevisionHistory{}, fmt.Errorf("history id %q is not a number", args[0])
	}
	for _, e := range h {
		if e.ID == id {
			return e, nil
		}
	}
	return v1alpha1.RevisionHistory{}, fmt.Errorf("application %s has no history entry %d (see `ferry app history %s`)", app.Name, id, app.Name)
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
