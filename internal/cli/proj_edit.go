package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	appproject "github.com/ferrycd/ferry/internal/project"
)

// This file holds the verbs that edit one list of a project's spec (sources,
// source namespaces, destinations, the four resource lists) and the one way
// they, and the sync window verbs, write: editList.

// listEdit changes one spec list as stored. Items are the list's raw JSON
// values, so fields Ferry does not model survive in the items left alone.
// It returns the new list and a message; changed false leaves the project
// untouched (and the message says why).
type listEdit func(items []any, present bool) (next []any, changed bool, msg string, err error)

// listField names a spec list and whether an empty list means something
// else than an absent one (namespaceResourceWhitelist: none allowed against
// all allowed), so it must be written as [] rather than removed.
type listField struct {
	name      string
	keepEmpty bool
}

var (
	fieldSourceRepos       = listField{name: "sourceRepos"}
	fieldSourceNamespaces  = listField{name: "sourceNamespaces"}
	fieldDestinations      = listField{name: "destinations"}
	fieldClusterWhitelist  = listField{name: "clusterResourceWhitelist"}
	fieldClusterBlacklist  = listField{name: "clusterResourceBlacklist"}
	fieldNamespacedAllowed = listField{name: "namespaceResourceWhitelist", keepEmpty: true}
	fieldNamespacedDenied  = listField{name: "namespaceResourceBlacklist"}
	fieldSyncWindows       = listField{name: "syncWindows"}
)

// editList applies edit to spec.<field> of project name and writes back
// that field alone, with a JSON merge patch carrying the resourceVersion it
// read: the rest of the spec (fields Ferry does not model, such as roles,
// included) is never rewritten, and an edit made by someone else in
// between makes the patch fail with a conflict, after which the project is
// read and edited again. It returns edit's message.
func (o *kubeOptions) editList(ctx context.Context, c client.Client, name string, field listField, edit listEdit) (string, error) {
	var msg string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := o.getProject(ctx, c, name)
		if err != nil {
			return err
		}
		items, present, err := unstructured.NestedSlice(u.Object, "spec", field.name)
		if err != nil {
			return fmt.Errorf("project %s: spec.%s: %w", name, field.name, err)
		}
		next, changed, m, err := edit(items, present)
		msg = m
		if err != nil || !changed {
			return err
		}
		var value any = next
		if len(next) == 0 && !field.keepEmpty {
			value = nil // removes the field, as Argo CD's encoding of an empty list does
		} else if next == nil {
			value = []any{}
		}
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"resourceVersion": u.GetResourceVersion()},
			"spec":     map[string]any{field.name: value},
		})
		if err != nil {
			return err
		}
		if err := c.Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return fmt.Errorf("update spec.%s of project %s/%s: %w", field.name, o.namespace, name, err)
		}
		return nil
	})
	return msg, err
}

// decodeItem decodes a raw list item into its Go type.
func decodeItem[T any](item any) (T, error) {
	var v T
	data, err := json.Marshal(item)
	if err != nil {
		return v, err
	}
	err = json.Unmarshal(data, &v)
	return v, err
}

// encodeItem encodes a typed item as a raw list item.
func encodeItem(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var item any
	err = json.Unmarshal(data, &item)
	return item, err
}

// indexOf is the index of the first item that decodes to a T matching
// match, or -1.
func indexOf[T any](items []any, match func(T) bool) (int, error) {
	for i, item := range items {
		v, err := decodeItem[T](item)
		if err != nil {
			return -1, err
		}
		if match(v) {
			return i, nil
		}
	}
	return -1, nil
}

// newProjEditCmds are the verbs that edit one of a project's lists.
func newProjEditCmds(o *kubeOptions) []*cobra.Command {
	return []*cobra.Command{
		newProjAddSourceCmd(o), newProjRemoveSourceCmd(o),
		newProjAddSourceNamespaceCmd(o), newProjRemoveSourceNamespaceCmd(o),
		newProjAddDestinationCmd(o), newProjRemoveDestinationCmd(o),
		newProjResourceCmd(o, "allow-cluster-resource", true, false),
		newProjResourceCmd(o, "deny-cluster-resource", false, false),
		newProjResourceCmd(o, "allow-namespace-resource", true, true),
		newProjResourceCmd(o, "deny-namespace-resource", false, true),
	}
}

// runEdit is the RunE of a list-editing verb: it edits the list of the
// project named by the first argument and prints the edit's message.
func (o *kubeOptions) runEdit(field listField, edit func(args []string) listEdit) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := o.client()
		if err != nil {
			return err
		}
		msg, err := o.editList(cmd.Context(), c, args[0], field, edit(args))
		if err != nil {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), msg)
		return nil
	}
}

func newProjAddSourceCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "add-source PROJECT URL",
		Short: "Allow a source repository (a glob); a leading ! denies it instead",
		Example: "  ferry proj add-source team-a https://github.com/myorg/team-a.git\n" +
			"  ferry proj add-source team-a 'https://github.com/myorg/*'\n  ferry proj add-source team-a '!https://github.com/myorg/secrets.git'",
		Args: cobra.ExactArgs(2),
		RunE: o.runEdit(fieldSourceRepos, func(args []string) listEdit {
			return addSource(args[0], args[1])
		}),
	}
}

// addSource appends url to the source repositories unless an entry already
// says so ("*" allows every repository, but not a negated one). Allowing a
// repository the project denies is refused: the denial would still win.
func addSource(project, url string) listEdit {
	return func(items []any, _ bool) ([]any, bool, string, error) {
		if url == "!*" {
			return nil, false, "", fmt.Errorf("project %s: source repository %q is invalid: it would deny every repository", project, url)
		}
		negated := strings.HasPrefix(url, "!")
		repos := make([]string, 0, len(items))
		for _, item := range items {
			repo, _ := item.(string)
			repos = append(repos, repo)
		}
		if i := slices.IndexFunc(repos, func(r string) bool { return !negated && appproject.SameRepo(r, "!"+url) }); i >= 0 {
			return nil, false, "", fmt.Errorf("project %s denies source repository %s (entry %q); remove that entry first: ferry proj remove-source %s '%s'", project, url, repos[i], project, repos[i])
		}
		for _, repo := range repos {
			switch {
			case repo == "*" && !negated:
				return nil, false, fmt.Sprintf("Source repository '*' already allowed in project %s", project), nil
			case appproject.SameRepo(repo, url):
				return nil, false, fmt.Sprintf("Source repository '%s' already in project %s", repo, project), nil
			}
		}
		verb := "allowed"
		if negated {
			verb = "denied"
		}
		return append(items, url), true, fmt.Sprintf("Source repository '%s' %s in project %s", strings.TrimPrefix(url, "!"), verb, project), nil
	}
}

func newProjRemoveSourceCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "remove-source PROJECT URL",
		Short:   "Remove a source repository entry (write a negated entry with its !)",
		Example: "  ferry proj remove-source team-a https://github.com/myorg/team-a.git\n  ferry proj remove-source team-a '!https://github.com/myorg/secrets.git'",
		Args:    cobra.ExactArgs(2),
		RunE: o.runEdit(fieldSourceRepos, func(args []string) listEdit {
			project, url := args[0], args[1]
			return func(items []any, _ bool) ([]any, bool, string, error) {
				i := slices.Index(items, any(url))
				if i < 0 {
					i = slices.IndexFunc(items, func(item any) bool { s, _ := item.(string); return appproject.SameRepo(s, url) })
				}
				if i < 0 {
					return nil, false, "", fmt.Errorf("project %s has no source repository %s", project, url)
				}
				removed := items[i]
				return slices.Delete(items, i, i+1), true, fmt.Sprintf("Source repository '%s' removed from project %s", removed, project), nil
			}
		}),
	}
}

func newProjAddSourceNamespaceCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "add-source-namespace PROJECT NAMESPACE",
		Short:   "Let Applications of another namespace (a glob) use the project",
		Example: "  ferry proj add-source-namespace team-a team-a-apps",
		Args:    cobra.ExactArgs(2),
		RunE: o.runEdit(fieldSourceNamespaces, func(args []string) listEdit {
			project, ns := args[0], args[1]
			return func(items []any, _ bool) ([]any, bool, string, error) {
				for _, item := range items {
					if item == "*" || item == ns {
						return nil, false, fmt.Sprintf("Source namespace '%s' already allowed in project %s", item, project), nil
					}
				}
				return append(items, ns), true, fmt.Sprintf("Source namespace '%s' added to project %s", ns, project), nil
			}
		}),
	}
}

func newProjRemoveSourceNamespaceCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "remove-source-namespace PROJECT NAMESPACE",
		Short:   "Remove a source namespace entry",
		Example: "  ferry proj remove-source-namespace team-a team-a-apps",
		Args:    cobra.ExactArgs(2),
		RunE: o.runEdit(fieldSourceNamespaces, func(args []string) listEdit {
			project, ns := args[0], args[1]
			return func(items []any, _ bool) ([]any, bool, string, error) {
				i := slices.Index(items, any(ns))
				if i < 0 {
					return nil, false, "", fmt.Errorf("project %s has no source namespace %s", project, ns)
				}
				return slices.Delete(items, i, i+1), true, fmt.Sprintf("Source namespace '%s' removed from project %s", ns, project), nil
			}
		}),
	}
}

// destinationMatch matches a destination entry by namespace and either
// server (normalised) or, byName, cluster name.
func destinationMatch(target, namespace string, byName bool) func(v1alpha1.ApplicationDestination) bool {
	return func(d v1alpha1.ApplicationDestination) bool {
		if d.Namespace != namespace {
			return false
		}
		if byName {
			return d.Name != "" && d.Name == target
		}
		return d.Server != "" && cluster.NormalizeServer(d.Server) == cluster.NormalizeServer(target)
	}
}

// describeDestination is "server, namespace" or "named NAME, namespace".
func describeDestination(target, namespace string, byName bool) string {
	if byName {
		return "named " + target + ", " + namespace
	}
	return target + ", " + namespace
}

func newProjAddDestinationCmd(o *kubeOptions) *cobra.Command {
	var byName bool
	cmd := &cobra.Command{
		Use:   "add-destination PROJECT SERVER|NAME NAMESPACE",
		Short: "Allow a destination cluster (by server URL, or by name with --name) and namespace; both globs",
		Example: "  ferry proj add-destination team-a https://kubernetes.default.svc team-a\n" +
			"  ferry proj add-destination team-a prod-us-east 'team-a-*' --name",
		Args: cobra.ExactArgs(3),
		RunE: o.runEdit(fieldDestinations, func(args []string) listEdit {
			project, target, ns := args[0], args[1], args[2]
			return func(items []any, _ bool) ([]any, bool, string, error) {
				desc := describeDestination(target, ns, byName)
				i, err := indexOf(items, destinationMatch(target, ns, byName))
				if err != nil {
					return nil, false, "", fmt.Errorf("project %s: spec.destinations: %w", project, err)
				}
				if i >= 0 {
					return nil, false, fmt.Sprintf("Destination %s already in project %s", desc, project), nil
				}
				dest := v1alpha1.ApplicationDestination{Server: target, Namespace: ns}
				if byName {
					dest = v1alpha1.ApplicationDestination{Name: target, Namespace: ns}
				}
				item, err := encodeItem(dest)
				if err != nil {
					return nil, false, "", err
				}
				return append(items, item), true, fmt.Sprintf("Destination %s added to project %s", desc, project), nil
			}
		}),
	}
	cmd.Flags().BoolVar(&byName, "name", false, "the second argument is a cluster name, not a server URL")
	return cmd
}

func newProjRemoveDestinationCmd(o *kubeOptions) *cobra.Command {
	var byName bool
	cmd := &cobra.Command{
		Use:     "remove-destination PROJECT SERVER|NAME NAMESPACE",
		Short:   "Remove a destination entry (one added with --name is removed with --name)",
		Example: "  ferry proj remove-destination team-a https://kubernetes.default.svc team-a\n  ferry proj remove-destination team-a prod-us-east 'team-a-*' --name",
		Args:    cobra.ExactArgs(3),
		RunE: o.runEdit(fieldDestinations, func(args []string) listEdit {
			project, target, ns := args[0], args[1], args[2]
			return func(items []any, _ bool) ([]any, bool, string, error) {
				desc := describeDestination(target, ns, byName)
				i, err := indexOf(items, destinationMatch(target, ns, byName))
				if err != nil {
					return nil, false, "", fmt.Errorf("project %s: spec.destinations: %w", project, err)
				}
				if i < 0 {
					err := fmt.Errorf("project %s has no destination %s", project, desc)
					if other, _ := indexOf(items, destinationMatch(target, ns, !byName)); other >= 0 {
						hint := "add --name: it names the cluster"
						if byName {
							hint = "drop --name: it is a server"
						}
						err = fmt.Errorf("%w (%s)", err, hint)
					}
					return nil, false, "", err
				}
				return slices.Delete(items, i, i+1), true, fmt.Sprintf("Destination %s removed from project %s", desc, project), nil
			}
		}),
	}
	cmd.Flags().BoolVar(&byName, "name", false, "the second argument is a cluster name, not a server URL")
	return cmd
}

// newProjResourceCmd is one of Argo CD's four resource list verbs. Each
// edits one list, chosen by -l: allow-X adds to X's allow list (-l allow)
// or removes from its deny list (-l deny); deny-X removes from the allow
// list or adds to the deny list. The default list is the allow list for
// cluster-scoped kinds and the deny list for namespaced ones, as in Argo CD.
// Cluster-scoped items take an optional NAME (a glob).
func newProjResourceCmd(o *kubeOptions, use string, allow, namespaced bool) *cobra.Command {
	list, scope, args := "allow", "cluster-scoped", cobra.RangeArgs(3, 4)
	usage := use + " PROJECT GROUP KIND [NAME]"
	example := "  ferry proj %s team-a rbac.authorization.k8s.io ClusterRole 'team-a-*'\n  ferry proj %s team-a '' PersistentVolume -l deny"
	if namespaced {
		list, scope, args = "deny", "namespaced", cobra.ExactArgs(3)
		usage = use + " PROJECT GROUP KIND"
		example = "  ferry proj %s team-a '' ResourceQuota\n  ferry proj %s team-a apps Deployment -l allow"
	}
	verb := "Deny"
	if allow {
		verb = "Allow"
	}
	cmd := &cobra.Command{
		Use:     usage,
		Short:   fmt.Sprintf("%s a %s kind: edit the allow list (-l allow) or the deny list (-l deny); default -l %s", verb, scope, list),
		Example: fmt.Sprintf(example, use, use),
		Args:    args,
		RunE: func(cmd *cobra.Command, args []string) error {
			onAllowList, err := parseListType(list)
			if err != nil {
				return err
			}
			edit := resourceEdit{project: args[0], add: allow == onAllowList, allowList: onAllowList, namespaced: namespaced}
			edit.item = v1alpha1.ClusterResourceRestrictionItem{Group: args[1], Kind: args[2]}
			if len(args) == 4 {
				edit.item.Name = args[3]
			}
			return o.runEdit(edit.field(), func([]string) listEdit { return edit.apply })(cmd, args)
		},
	}
	cmd.Flags().StringVarP(&list, "list", "l", list, "the list to edit: allow (or white) or deny (or black)")
	return cmd
}

// parseListType reads -l: true for the allow list.
func parseListType(l string) (bool, error) {
	switch l {
	case "allow", "white":
		return true, nil
	case "deny", "black":
		return false, nil
	}
	return false, fmt.Errorf("-l %q: want allow (white) or deny (black)", l)
}

// resourceEdit adds an item to, or removes it from, one resource list.
type resourceEdit struct {
	project                    string
	item                       v1alpha1.ClusterResourceRestrictionItem
	add, allowList, namespaced bool
}

// field is the spec list the edit changes.
func (e resourceEdit) field() listField {
	switch {
	case e.namespaced && e.allowList:
		return fieldNamespacedAllowed
	case e.namespaced:
		return fieldNamespacedDenied
	case e.allowList:
		return fieldClusterWhitelist
	}
	return fieldClusterBlacklist
}

// describe names the item and the list as Argo CD's messages do.
func (e resourceEdit) describe() (item, list string) {
	list = "denied"
	if e.allowList {
		list = "allowed"
	}
	if e.namespaced {
		return fmt.Sprintf("Group '%s' and kind '%s'", e.item.Group, e.item.Kind), list + " namespaced resources (spec." + e.field().name + ")"
	}
	return fmt.Sprintf("Group '%s', kind '%s' and name '%s'", e.item.Group, e.item.Kind, e.item.Name), list + " cluster resources (spec." + e.field().name + ")"
}

// apply is the listEdit. Adding what is there and removing what is not are
// no-ops that say so, except removing a namespaced kind from an absent allow
// list: absent allows every kind, so the kind would stay allowed.
func (e resourceEdit) apply(items []any, present bool) ([]any, bool, string, error) {
	item, list := e.describe()
	match := func(i v1alpha1.ClusterResourceRestrictionItem) bool {
		return i.Group == e.item.Group && i.Kind == e.item.Kind && (e.namespaced || i.Name == e.item.Name)
	}
	i, err := indexOf(items, match)
	if err != nil {
		return nil, false, "", fmt.Errorf("project %s: spec.%s: %w", e.project, e.field().name, err)
	}
	whitelist := e.namespaced && e.allowList
	switch {
	case e.add && i >= 0:
		return nil, false, fmt.Sprintf("%s already in the %s of project %s", item, list, e.project), nil
	case e.add:
		var raw any
		if e.namespaced {
			raw, err = encodeItem(v1alpha1.GroupKind{Group: e.item.Group, Kind: e.item.Kind})
		} else {
			raw, err = encodeItem(e.item)
		}
		if err != nil {
			return nil, false, "", err
		}
		msg := fmt.Sprintf("%s added to the %s of project %s", item, list, e.project)
		if whitelist && !present {
			msg += "; the project had no namespaceResourceWhitelist (every namespaced kind allowed), now only the listed kinds are allowed"
		}
		return append(items, raw), true, msg, nil
	case whitelist && !present:
		return nil, false, "", fmt.Errorf("project %s has no namespaceResourceWhitelist, so every namespaced kind, %s/%s included, is allowed; deny it with: ferry proj deny-namespace-resource %s '%s' %s",
			e.project, e.item.Group, e.item.Kind, e.project, e.item.Group, e.item.Kind)
	case i < 0:
		return nil, false, fmt.Sprintf("%s not in the %s of project %s: nothing to remove", item, list, e.project), nil
	}
	msg := fmt.Sprintf("%s removed from the %s of project %s", item, list, e.project)
	next := slices.Delete(items, i, i+1)
	if whitelist && len(next) == 0 {
		msg += "; the list is now empty: no namespaced kind is allowed"
	}
	return next, true, msg, nil
}
