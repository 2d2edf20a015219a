package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/project"
)

// This file is `ferry proj windows`: a project's sync windows, addressed
// as Argo CD does by their index in spec.syncWindows (the ID `windows list`
// shows). Validation and whether a window is open now come from
// internal/project, as for the controller.

func newProjWindowsCmd(o *kubeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "windows",
		Short: "Manage a project's sync windows (as `argocd proj windows` does)",
		Example: `  ferry proj windows add team-a --kind deny --schedule "0 22 * * *" --duration 8h --applications '*'
  ferry proj windows list team-a
  ferry proj windows enable-manual-sync team-a 0
  ferry proj windows delete team-a 0`,
	}
	cmd.AddCommand(newProjWindowsListCmd(o), newProjWindowsAddCmd(o), newProjWindowsUpdateCmd(o), newProjWindowsDeleteCmd(o),
		newProjWindowsManualSyncCmd(o, true), newProjWindowsManualSyncCmd(o, false))
	return cmd
}

func newProjWindowsListCmd(o *kubeOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:     "list PROJECT",
		Short:   "List a project's sync windows, with whether each is active now",
		Example: "  ferry proj windows list team-a\n  ferry proj windows list team-a -o yaml",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := o.projectToShow(cmd.Context(), args[0], output)
			if err != nil {
				return err
			}
			if output == "json" || output == "yaml" {
				windows, _, err := unstructured.NestedSlice(u.Object, "spec", "syncWindows")
				if err != nil {
					return fmt.Errorf("project %s: spec.syncWindows: %w", args[0], err)
				}
				if windows == nil {
					windows = []any{}
				}
				return printStructured(cmd.OutOrStdout(), output, windows)
			}
			p, err := typedProject(u)
			if err != nil {
				return err
			}
			return printWindows(cmd.OutOrStdout(), p.Spec.SyncWindows, time.Now())
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml")
	return cmd
}

// printWindows prints Argo CD's window table as of now; a window that does
// not validate is Invalid, and why is printed under the table.
func printWindows(w io.Writer, windows v1alpha1.SyncWindows, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tKIND\tSCHEDULE\tDURATION\tAPPLICATIONS\tNAMESPACES\tCLUSTERS\tMANUALSYNC\tTIMEZONE\tUSEANDOPERATOR")
	var problems []string
	for i, win := range windows {
		if win == nil {
			win = &v1alpha1.SyncWindow{}
		}
		status := "Inactive"
		if err := project.ValidateWindow(win); err != nil {
			status = "Invalid"
			problems = append(problems, fmt.Sprintf("window %d: %v", i, err))
		} else if active, _, err := project.WindowActive(win, now); err != nil {
			status = "Invalid"
			problems = append(problems, fmt.Sprintf("window %d: %v", i, err))
		} else if active {
			status = "Active"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i, status, win.Kind, win.Schedule, win.Duration,
			dashIfEmpty(win.Applications), dashIfEmpty(win.Namespaces), dashIfEmpty(win.Clusters),
			enabled(win.ManualSync), orDefault(win.TimeZone, "UTC"), enabled(win.UseAndOperator))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(w, p)
	}
	return nil
}

// dashIfEmpty joins a selector list, "-" when empty, as Argo CD prints it.
func dashIfEmpty(l []string) string {
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

// enabled is Argo CD's "Enabled" or "Disabled".
func enabled(b bool) string {
	if b {
		return "Enabled"
	}
	return "Disabled"
}

// windowFlags are the flags that describe a window (add and update).
type windowFlags struct {
	kind, schedule, duration, timeZone, description string
	applications, namespaces, clusters              []string
	manualSync, andOperator                         bool
}

func (f *windowFlags) addSelectorFlags(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.schedule, "schedule", "", `when the window opens, in cron format (e.g. --schedule "0 22 * * *")`)
	fl.StringVar(&f.duration, "duration", "", "how long the window stays open (e.g. --duration 1h)")
	fl.StringSliceVar(&f.applications, "applications", nil, "applications the window applies to (comma-separated; globs, e.g. 'prod-*,website')")
	fl.StringSliceVar(&f.namespaces, "namespaces", nil, "destination namespaces the window applies to (comma-separated; globs)")
	fl.StringSliceVar(&f.clusters, "clusters", nil, "destination clusters (servers or names) the window applies to (comma-separated; globs)")
	fl.StringVar(&f.timeZone, "time-zone", "UTC", "IANA time zone the schedule is read in (e.g. Europe/Berlin)")
	fl.StringVar(&f.description, "description", "", "what the window is for")
}

// checkWindow validates a window as Argo CD validates a project's: the
// window itself (internal/project), at least one selector, and no other
// window with the same kind, schedule, duration, selectors and time zone.
func checkWindow(projectName string, win *v1alpha1.SyncWindow, others []*v1alpha1.SyncWindow) error {
	if err := project.ValidateWindow(win); err != nil {
		return fmt.Errorf("project %s: sync window: %w", projectName, err)
	}
	if len(win.Applications) == 0 && len(win.Namespaces) == 0 && len(win.Clusters) == 0 {
		return fmt.Errorf("project %s: sync window %s %q %s selects nothing: pass one or more of --applications, --namespaces and --clusters", projectName, win.Kind, win.Schedule, win.Duration)
	}
	for i, other := range others {
		if other != nil && sameWindow(win, other) {
			return fmt.Errorf("project %s already has this sync window (ID %d: %s)", projectName, i, formatWindow(other))
		}
	}
	return nil
}

// sameWindow compares what identifies a window (Argo CD's HashIdentity:
// all but the manual-sync switch and the description).
func sameWindow(a, b *v1alpha1.SyncWindow) bool {
	return a.Kind == b.Kind && a.Schedule == b.Schedule && a.Duration == b.Duration &&
		slices.Equal(a.Applications, b.Applications) && slices.Equal(a.Namespaces, b.Namespaces) && slices.Equal(a.Clusters, b.Clusters) &&
		orDefault(a.TimeZone, "UTC") == orDefault(b.TimeZone, "UTC") && a.UseAndOperator == b.UseAndOperator
}

// decodeWindows decodes raw spec.syncWindows items.
func decodeWindows(projectName string, items []any) ([]*v1alpha1.SyncWindow, error) {
	windows := make([]*v1alpha1.SyncWindow, 0, len(items))
	for i, item := range items {
		w, err := decodeItem[*v1alpha1.SyncWindow](item)
		if err != nil {
			return nil, fmt.Errorf("project %s: spec.syncWindows[%d]: %w", projectName, i, err)
		}
		windows = append(windows, w)
	}
	return windows, nil
}

func newProjWindowsAddCmd(o *kubeOptions) *cobra.Command {
	f := &windowFlags{}
	cmd := &cobra.Command{
		Use:   "add PROJECT --kind allow|deny --schedule CRON --duration D (--applications|--namespaces|--clusters) ...",
		Short: "Add a sync window to a project",
		Example: `  ferry proj windows add team-a --kind allow --schedule "0 22 * * *" --duration 1h --applications '*' --description "Ticket 123"
  ferry proj windows add team-a --kind deny --schedule "30 10 * * *" --duration 30m \
    --applications 'prod-*,website' --namespaces 'default,*-prod' --clusters prod,staging --manual-sync --time-zone Europe/Berlin`,
		Args: cobra.ExactArgs(1),
		RunE: o.runEdit(fieldSyncWindows, func(args []string) listEdit {
			name := args[0]
			win := &v1alpha1.SyncWindow{
				Kind: f.kind, Schedule: f.schedule, Duration: f.duration, TimeZone: f.timeZone, Description: f.description,
				Applications: f.applications, Namespaces: f.namespaces, Clusters: f.clusters,
				ManualSync: f.manualSync, UseAndOperator: f.andOperator,
			}
			return func(items []any, _ bool) ([]any, bool, string, error) {
				others, err := decodeWindows(name, items)
				if err != nil {
					return nil, false, "", err
				}
				if err := checkWindow(name, win, others); err != nil {
					return nil, false, "", err
				}
				item, err := encodeItem(win)
				if err != nil {
					return nil, false, "", err
				}
				return append(items, item), true, fmt.Sprintf("Sync window %d (%s) added to project %s", len(items), formatWindow(win), name), nil
			}
		}),
	}
	cmd.Flags().StringVarP(&f.kind, "kind", "k", "", "allow or deny")
	f.addSelectorFlags(cmd)
	cmd.Flags().BoolVar(&f.manualSync, "manual-sync", false, "let requested (manual) syncs through while the window blocks")
	cmd.Flags().BoolVar(&f.andOperator, "use-and-operator", false, "a window applies when all its selectors match, not any")
	return cmd
}

// windowEdit edits the window with the ID of args[1], by index; the project
// is read again on a conflict, but an ID that another edit shifted (a
// window deleted before it) is not detected, as in Argo CD.
func windowEdit(args []string, edit func(name string, id int, win map[string]any, windows []*v1alpha1.SyncWindow) (changed bool, msg string, err error)) listEdit {
	name := args[0]
	return func(items []any, _ bool) ([]any, bool, string, error) {
		id, err := strconv.Atoi(args[1])
		if err != nil || id < 0 {
			return nil, false, "", fmt.Errorf("sync window ID %q: want a number shown by ferry proj windows list %s", args[1], name)
		}
		if id >= len(items) {
			if len(items) == 0 {
				return nil, false, "", fmt.Errorf("project %s has no sync window %d: it has none", name, id)
			}
			return nil, false, "", fmt.Errorf("project %s has no sync window %d: its IDs are 0 to %d", name, id, len(items)-1)
		}
		win, ok := items[id].(map[string]any)
		if !ok {
			return nil, false, "", fmt.Errorf("project %s: spec.syncWindows[%d] is not an object", name, id)
		}
		windows, err := decodeWindows(name, items)
		if err != nil {
			return nil, false, "", err
		}
		changed, msg, err := edit(name, id, win, windows)
		return items, changed, msg, err
	}
}

func newProjWindowsManualSyncCmd(o *kubeOptions, enable bool) *cobra.Command {
	use, verb := "disable-manual-sync", "disabled"
	if enable {
		use, verb = "enable-manual-sync", "enabled"
	}
	return &cobra.Command{
		Use:     use + " PROJECT ID",
		Short:   fmt.Sprintf("Set manualSync of a sync window to %t (the ID is shown by windows list)", enable),
		Example: fmt.Sprintf("  ferry proj windows %s team-a 0", use),
		Args:    cobra.ExactArgs(2),
		RunE: o.runEdit(fieldSyncWindows, func(args []string) listEdit {
			return windowEdit(args, func(name string, id int, win map[string]any, windows []*v1alpha1.SyncWindow) (bool, string, error) {
				if windows[id] != nil && windows[id].ManualSync == enable {
					return false, fmt.Sprintf("Manual sync already %s for sync window %d of project %s", verb, id, name), nil
				}
				if enable {
					win["manualSync"] = true
				} else {
					delete(win, "manualSync")
				}
				return true, fmt.Sprintf("Manual sync %s for sync window %d of project %s", verb, id, name), nil
			})
		}),
	}
}

func newProjWindowsDeleteCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete PROJECT ID",
		Short:   "Delete a sync window (the ID is shown by windows list; later IDs shift down)",
		Example: "  ferry proj windows delete team-a 0",
		Args:    cobra.ExactArgs(2),
		RunE: o.runEdit(fieldSyncWindows, func(args []string) listEdit {
			edit := windowEdit(args, func(name string, id int, _ map[string]any, windows []*v1alpha1.SyncWindow) (bool, string, error) {
				return true, fmt.Sprintf("Sync window %d (%s) deleted from project %s", id, formatWindow(windows[id]), name), nil
			})
			return func(items []any, present bool) ([]any, bool, string, error) {
				items, changed, msg, err := edit(items, present)
				if err != nil {
					return nil, false, "", err
				}
				id, _ := strconv.Atoi(args[1])
				return slices.Delete(items, id, id+1), changed, msg, nil
			}
		}),
	}
}

func newProjWindowsUpdateCmd(o *kubeOptions) *cobra.Command {
	f := &windowFlags{}
	cmd := &cobra.Command{
		Use:     "update PROJECT ID [--schedule CRON] [--duration D] [--applications ...] [--namespaces ...] [--clusters ...] [--time-zone TZ] [--description ...]",
		Short:   "Change the schedule, duration, selectors, time zone or description of a sync window",
		Example: `  ferry proj windows update team-a 0 --schedule "0 20 * * *" --duration 2h`,
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			changes := map[string]any{}
			for flag, field := range map[string]string{"schedule": "schedule", "duration": "duration", "time-zone": "timeZone", "description": "description"} {
				if cmd.Flags().Changed(flag) {
					v, _ := cmd.Flags().GetString(flag)
					changes[field] = v
				}
			}
			for flag, values := range map[string][]string{"applications": f.applications, "namespaces": f.namespaces, "clusters": f.clusters} {
				if cmd.Flags().Changed(flag) {
					changes[flag] = values
				}
			}
			if len(changes) == 0 {
				return fmt.Errorf("nothing to update: pass one or more of --schedule, --duration, --applications, --namespaces, --clusters, --time-zone and --description")
			}
			return o.runEdit(fieldSyncWindows, func(args []string) listEdit {
				return windowEdit(args, func(name string, id int, win map[string]any, windows []*v1alpha1.SyncWindow) (bool, string, error) {
					return updateWindow(name, id, win, windows, changes)
				})
			})(cmd, args)
		},
	}
	f.addSelectorFlags(cmd)
	return cmd
}

// updateWindow sets the changed fields of the raw window (an empty value
// removes the field) and checks the result as add does.
func updateWindow(name string, id int, win map[string]any, windows []*v1alpha1.SyncWindow, changes map[string]any) (bool, string, error) {
	for field, v := range changes {
		switch v := v.(type) {
		case string:
			if v == "" {
				delete(win, field)
			} else {
				win[field] = v
			}
		case []string:
			if len(v) == 0 {
				delete(win, field)
			} else {
				raw := make([]any, 0, len(v))
				for _, s := range v {
					raw = append(raw, s)
				}
				win[field] = raw
			}
		}
	}
	updated, err := decodeItem[*v1alpha1.SyncWindow](win)
	if err != nil {
		return false, "", fmt.Errorf("project %s: spec.syncWindows[%d]: %w", name, id, err)
	}
	others := slices.Clone(windows)
	others[id] = nil
	if err := checkWindow(name, updated, others); err != nil {
		return false, "", err
	}
	return true, fmt.Sprintf("Sync window %d of project %s updated: %s", id, name, formatWindow(updated)), nil
}
