package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/project"
)

// projCreateOptions are the flags of `ferry proj create`, named as Argo CD's
// (cmd/util.AddProjFlags) plus Ferry's --dest-name.
type projCreateOptions struct {
	file                                                   string
	upsert                                                 bool
	description                                            string
	dests, destNames, sources, serviceAccounts             []string
	allowCluster, denyCluster, allowNamespaced, denyNamesp []string
	sourceNamespaces                                       []string
	orphaned, orphanedWarn                                 bool
}

func newProjCreateCmd(o *kubeOptions) *cobra.Command {
	opts := &projCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create PROJECT [flags] | create [PROJECT] -f FILE",
		Short: "Create a project from flags or a manifest (-f, - for stdin); flags override the manifest's fields",
		Example: `  ferry proj create team-a --description "Team A" \
    -d https://kubernetes.default.svc,team-a --dest-name prod-us-east,team-a \
    -s https://github.com/myorg/team-a.git -s '!https://github.com/myorg/secrets.git' \
    --allow-cluster-resource /Namespace --deny-namespaced-resource /ResourceQuota --orphaned-resources
  ferry proj create -f team-a.yaml --upsert`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := opts.project(cmd.Flags(), cmd.InOrStdin(), o.namespace, args)
			if err != nil {
				return err
			}
			c, err := o.client()
			if err != nil {
				return err
			}
			result, err := createProject(cmd.Context(), c, u, opts.upsert)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "project '%s' %s\n", u.GetName(), result)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&opts.file, "file", "f", "", "AppProject manifest (YAML or JSON) to create; - reads stdin")
	_ = f.SetAnnotation("file", cobra.BashCompFilenameExt, []string{"json", "yaml", "yml"})
	f.BoolVar(&opts.upsert, "upsert", false, "replace the spec of an existing project whose spec differs")
	f.StringVar(&opts.description, "description", "", "project description")
	f.StringArrayVarP(&opts.dests, "dest", "d", nil, "permitted destination SERVER,NAMESPACE (repeatable; globs)")
	f.StringArrayVar(&opts.destNames, "dest-name", nil, "permitted destination by cluster name: NAME,NAMESPACE (repeatable; globs)")
	f.StringArrayVarP(&opts.sources, "src", "s", nil, "permitted source repository URL (repeatable; globs; a leading ! denies)")
	f.StringArrayVar(&opts.allowCluster, "allow-cluster-resource", nil, "allowed cluster-scoped kind: KIND, GROUP/KIND or GROUP/KIND/NAME (repeatable; /Namespace for the core group)")
	f.StringArrayVar(&opts.denyCluster, "deny-cluster-resource", nil, "denied cluster-scoped kind: KIND, GROUP/KIND or GROUP/KIND/NAME (repeatable)")
	f.StringArrayVar(&opts.allowNamespaced, "allow-namespaced-resource", nil, "allowed namespaced kind: KIND or GROUP/KIND (repeatable; without it every namespaced kind is allowed)")
	f.StringArrayVar(&opts.denyNamesp, "deny-namespaced-resource", nil, "denied namespaced kind: KIND or GROUP/KIND (repeatable)")
	f.StringSliceVar(&opts.sourceNamespaces, "source-namespaces", nil, "namespaces whose Applications may use the project (comma-separated; globs)")
	f.StringArrayVar(&opts.serviceAccounts, "dest-service-accounts", nil, "SERVER,NAMESPACE,SERVICEACCOUNT a sync to that destination runs as (repeatable)")
	f.BoolVar(&opts.orphaned, "orphaned-resources", false, "report objects in the destination namespaces that no Application tracks")
	f.BoolVar(&opts.orphanedWarn, "orphaned-resources-warn", false, "with orphaned resources: raise an OrphanedResourceWarning condition")
	return cmd
}

// project builds the project to create: the manifest of -f, or a new one
// named by the argument, with the fields of the flags that were set.
func (opts *projCreateOptions) project(flags *pflag.FlagSet, stdin io.Reader, namespace string, args []string) (*unstructured.Unstructured, error) {
	u := newProjectObject()
	if opts.file != "" {
		var err error
		if u, err = readProjectManifest(opts.file, stdin); err != nil {
			return nil, err
		}
		if len(args) == 1 && args[0] != u.GetName() {
			return nil, fmt.Errorf("project name %q does not match the manifest's metadata.name %q", args[0], u.GetName())
		}
		if ns := u.GetNamespace(); ns != "" && ns != namespace {
			return nil, fmt.Errorf("%s: metadata.namespace %q is not the namespace of the projects, %q (set -n %s)", opts.file, ns, namespace, ns)
		}
	} else {
		if len(args) == 0 {
			return nil, fmt.Errorf("name the project, or pass a manifest with -f")
		}
		u.SetName(args[0])
	}
	u.SetNamespace(namespace)
	if u.GetName() == "" {
		return nil, fmt.Errorf("%s: metadata.name is empty", opts.file)
	}
	fields, err := opts.specFields(flags)
	if err != nil {
		return nil, fmt.Errorf("project %s: %w", u.GetName(), err)
	}
	for name, value := range fields {
		if value == nil {
			unstructured.RemoveNestedField(u.Object, "spec", name)
			continue
		}
		if err := unstructured.SetNestedField(u.Object, value, "spec", name); err != nil {
			return nil, fmt.Errorf("project %s: spec.%s: %w", u.GetName(), name, err)
		}
	}
	if err := validateProjectManifest(u); err != nil {
		return nil, err
	}
	return u, nil
}

// readProjectManifest reads one AppProject from a file or stdin ("-"),
// dropping what the server sets, so the output of `ferry proj get -o yaml`
// can be created again.
func readProjectManifest(file string, stdin io.Reader) (*unstructured.Unstructured, error) {
	var data []byte
	var err error
	if file == "-" {
		data, err = io.ReadAll(stdin)
	} else {
		data, err = os.ReadFile(file)
	}
	if err != nil {
		return nil, fmt.Errorf("read project manifest: %w", err)
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	u := &unstructured.Unstructured{Object: obj}
	if gvk := u.GroupVersionKind(); gvk != v1alpha1.GroupVersion.WithKind("AppProject") {
		return nil, fmt.Errorf("%s: apiVersion %q, kind %q: want %s, AppProject", file, u.GetAPIVersion(), u.GetKind(), v1alpha1.GroupVersion)
	}
	for _, f := range []string{"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"} {
		unstructured.RemoveNestedField(obj, "metadata", f)
	}
	delete(obj, "status")
	return u, nil
}

// validateProjectManifest checks that the project decodes as an AppProject
// and that its sync windows validate, naming the field at fault.
func validateProjectManifest(u *unstructured.Unstructured) error {
	p, err := typedProject(u)
	if err != nil {
		return err
	}
	for i, w := range p.Spec.SyncWindows {
		if w == nil {
			return fmt.Errorf("project %s: spec.syncWindows[%d] is null", p.Name, i)
		}
		if err := project.ValidateWindow(w); err != nil {
			return fmt.Errorf("project %s: spec.syncWindows[%d]: %w", p.Name, i, err)
		}
	}
	return nil
}

// specFields are the spec fields the set flags give, as raw JSON values
// (nil removes a field), applied over a manifest as Argo CD does.
func (opts *projCreateOptions) specFields(flags *pflag.FlagSet) (map[string]any, error) {
	fields := map[string]any{}
	set := func(name string, v any) error {
		raw, err := encodeItem(v)
		if err != nil {
			return err
		}
		if s, ok := raw.([]any); ok && len(s) == 0 && name != fieldNamespacedAllowed.name {
			raw = nil
		}
		fields[name] = raw
		return nil
	}
	if flags.Changed("description") {
		fields["description"] = opts.description
		if opts.description == "" {
			fields["description"] = nil
		}
	}
	if flags.Changed("dest") || flags.Changed("dest-name") {
		dests, err := parseDestinations(opts.dests, opts.destNames)
		if err != nil {
			return nil, err
		}
		if err := set("destinations", dests); err != nil {
			return nil, err
		}
	}
	if flags.Changed("src") {
		if slices.Contains(opts.sources, "!*") {
			return nil, fmt.Errorf("--src %q is invalid: it would deny every repository", "!*")
		}
		if err := set("sourceRepos", opts.sources); err != nil {
			return nil, err
		}
	}
	for _, l := range []struct {
		flag, field string
		values      []string
		cluster     bool
	}{
		{"allow-cluster-resource", fieldClusterWhitelist.name, opts.allowCluster, true},
		{"deny-cluster-resource", fieldClusterBlacklist.name, opts.denyCluster, true},
		{"allow-namespaced-resource", fieldNamespacedAllowed.name, opts.allowNamespaced, false},
		{"deny-namespaced-resource", fieldNamespacedDenied.name, opts.denyNamesp, false},
	} {
		if !flags.Changed(l.flag) {
			continue
		}
		items, err := parseResourceItems(l.flag, l.values, l.cluster)
		if err != nil {
			return nil, err
		}
		if err := set(l.field, items); err != nil {
			return nil, err
		}
	}
	if flags.Changed("source-namespaces") {
		if err := set("sourceNamespaces", opts.sourceNamespaces); err != nil {
			return nil, err
		}
	}
	if flags.Changed("dest-service-accounts") {
		sas, err := parseServiceAccounts(opts.serviceAccounts)
		if err != nil {
			return nil, err
		}
		if err := set("destinationServiceAccounts", sas); err != nil {
			return nil, err
		}
	}
	if flags.Changed("orphaned-resources") || flags.Changed("orphaned-resources-warn") {
		var settings *v1alpha1.OrphanedResourcesMonitorSettings
		if opts.orphaned || flags.Changed("orphaned-resources-warn") {
			settings = &v1alpha1.OrphanedResourcesMonitorSettings{}
			if flags.Changed("orphaned-resources-warn") {
				settings.Warn = new(opts.orphanedWarn)
			}
		}
		if err := set("orphanedResources", settings); err != nil {
			return nil, err
		}
	}
	return fields, nil
}

// parseDestinations reads --dest SERVER,NAMESPACE and --dest-name
// NAME,NAMESPACE.
func parseDestinations(servers, names []string) ([]v1alpha1.ApplicationDestination, error) {
	dests := []v1alpha1.ApplicationDestination{}
	for _, flag := range []struct {
		name   string
		values []string
	}{{"dest", servers}, {"dest-name", names}} {
		for _, v := range flag.values {
			target, ns, ok := strings.Cut(v, ",")
			if !ok || target == "" || strings.Contains(ns, ",") {
				return nil, fmt.Errorf("--%s %q: want %s,NAMESPACE", flag.name, v, map[string]string{"dest": "SERVER", "dest-name": "NAME"}[flag.name])
			}
			d := v1alpha1.ApplicationDestination{Server: target, Namespace: ns}
			if flag.name == "dest-name" {
				d = v1alpha1.ApplicationDestination{Name: target, Namespace: ns}
			}
			if d.Server == "!*" || d.Name == "!*" || d.Namespace == "!*" {
				return nil, fmt.Errorf("--%s %q: '!*' is invalid (it would deny every destination)", flag.name, v)
			}
			dests = append(dests, d)
		}
	}
	return dests, nil
}

// parseResourceItems reads KIND, GROUP/KIND and, for cluster-scoped kinds,
// GROUP/KIND/NAME (Argo CD's forms; KIND alone is in the core group).
func parseResourceItems(flag string, values []string, cluster bool) (any, error) {
	var clusterItems []v1alpha1.ClusterResourceRestrictionItem
	var groupKinds []v1alpha1.GroupKind
	for _, v := range values {
		parts := strings.Split(v, "/")
		var item v1alpha1.ClusterResourceRestrictionItem
		switch {
		case len(parts) == 1:
			item.Kind = parts[0]
		case len(parts) == 2:
			item.Group, item.Kind = parts[0], parts[1]
		case len(parts) == 3 && cluster:
			item.Group, item.Kind, item.Name = parts[0], parts[1], parts[2]
		default:
			want := "KIND or GROUP/KIND"
			if cluster {
				want = "KIND, GROUP/KIND or GROUP/KIND/NAME"
			}
			return nil, fmt.Errorf("--%s %q: want %s", flag, v, want)
		}
		if item.Kind == "" {
			return nil, fmt.Errorf("--%s %q: the kind is empty", flag, v)
		}
		clusterItems = append(clusterItems, item)
		groupKinds = append(groupKinds, v1alpha1.GroupKind{Group: item.Group, Kind: item.Kind})
	}
	if cluster {
		return clusterItems, nil
	}
	if groupKinds == nil {
		return []v1alpha1.GroupKind{}, nil
	}
	return groupKinds, nil
}

// parseServiceAccounts reads --dest-service-accounts
// SERVER,NAMESPACE,SERVICEACCOUNT.
func parseServiceAccounts(values []string) ([]v1alpha1.ApplicationDestinationServiceAccount, error) {
	var sas []v1alpha1.ApplicationDestinationServiceAccount
	for _, v := range values {
		parts := strings.Split(v, ",")
		if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
			return nil, fmt.Errorf("--dest-service-accounts %q: want SERVER,NAMESPACE,SERVICEACCOUNT", v)
		}
		if strings.Contains(parts[2], "*") {
			return nil, fmt.Errorf("--dest-service-accounts %q: the ServiceAccount %q must not contain wildcards", v, parts[2])
		}
		sas = append(sas, v1alpha1.ApplicationDestinationServiceAccount{Server: parts[0], Namespace: parts[1], DefaultServiceAccount: parts[2]})
	}
	return sas, nil
}

// createProject creates u. A project of that name whose spec is the same is
// left alone ("unchanged"); one whose spec differs is an error naming the
// differing fields unless upsert, which replaces its spec (as Argo CD does:
// labels, annotations and everything outside the spec stay), guarded by the
// resourceVersion read.
func createProject(ctx context.Context, c client.Client, u *unstructured.Unstructured, upsert bool) (string, error) {
	key := client.ObjectKeyFromObject(u)
	err := c.Create(ctx, u.DeepCopy())
	if err == nil {
		return "created", nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("create project %s: %w", key, err)
	}
	existing := newProjectObject()
	if err := c.Get(ctx, key, existing); err != nil {
		return "", fmt.Errorf("read existing project %s: %w", key, err)
	}
	spec, _, _ := unstructured.NestedMap(u.Object, "spec")
	old, _, _ := unstructured.NestedMap(existing.Object, "spec")
	differ, err := differingFields(old, spec)
	if err != nil {
		return "", err
	}
	if len(differ) == 0 {
		return "unchanged", nil
	}
	if !upsert {
		return "", fmt.Errorf("project %s already exists and its spec differs in %s; pass --upsert to replace the spec", key.Name, strings.Join(differ, ", "))
	}
	if spec == nil {
		spec = map[string]any{}
	}
	existing.Object["spec"] = spec
	if err := c.Update(ctx, existing); err != nil {
		return "", fmt.Errorf("replace the spec of project %s: %w", key, err)
	}
	return "updated", nil
}

// differingFields lists the spec fields ("spec.sourceRepos") whose values
// differ between two specs, compared as JSON.
func differingFields(a, b map[string]any) ([]string, error) {
	var differ []string
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		va, err := canonicalJSON(a[k])
		if err != nil {
			return nil, err
		}
		vb, err := canonicalJSON(b[k])
		if err != nil {
			return nil, err
		}
		if !reflect.DeepEqual(va, vb) {
			differ = append(differ, "spec."+k)
		}
	}
	return differ, nil
}

// canonicalJSON re-decodes v so values of different Go types that encode
// alike compare equal.
func canonicalJSON(v any) (any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(data, &out)
}
