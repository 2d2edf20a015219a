package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ferrycd/ferry/internal/validate"
)

type validateOptions struct {
	kube       kubeOptions
	policies   []string
	namespaces []string
	allowNet   bool
	dryRun     bool
	output     string
	failOn     string
	levels     []string
	color      string
	listRules  bool
}

func newValidateCmd() *cobra.Command {
	o := &validateOptions{}
	cmd := &cobra.Command{
		Use:   "validate [PATH]",
		Short: "Check a GitOps repository before it merges: render, schemas, security rules, policies, server dry-run",
		Long: `Check what a GitOps repository deploys, as a pull-request check: every Application's source
(Helm charts in the repository included), every other chart, every kustomization root and every
plain manifest directory is rendered with the controller's
renderer, then checked offline against the Kubernetes ` + validate.KubernetesVersion + ` OpenAPI schemas (embedded) and the
CRDs found in the repository (unknown fields and wrong types are errors), against built-in security
rules, and against Rego policies (conftest-compatible: deny, violation and warn rules of package
main, from --policy directories, default policies/ when present). --server-dry-run also applies
every object with dryRun=All on the cluster of the kubeconfig, so admission judges it.

Policies are sandboxed: a policy calling a built-in that reaches the network, files or the
environment (` + strings.Join(validate.DisabledBuiltins(), ", ") + `)
does not compile unless --allow-policy-network is given, and a symbolic link in a policy directory
may not point out of it.

A rule is suppressed for one object with the annotation
validate.ferry.dev/ignore.<RULE-ID>: "<reason>"; the reason is required.

Exit code 0: no errors (warnings allowed unless --fail-on warning); 1: findings; 2: usage or
internal error.`,
		Example: `  ferry validate
  ferry validate ./gitops-repo --policy policies -o sarif > results.sarif
  ferry validate --server-dry-run --kubeconfig ~/.kube/config
  ferry validate --policy ci/policies --allow-policy-network
  ferry validate --level FERRY-SEC-012=error --level FERRY-SEC-014=off`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return &exitError{code: 2, err: fmt.Errorf("validate takes at most one PATH, got %d", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.listRules {
				return printRules(cmd)
			}
			root := "."
			if len(args) == 1 {
				root = args[0]
			}
			return runValidate(cmd, o, root)
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitError{code: 2, err: err} })
	f := cmd.Flags()
	o.kube.addConfigFlags(f)
	f.StringArrayVar(&o.policies, "policy", nil, "directory of Rego policies (repeatable; default: PATH/policies when it exists)")
	f.StringArrayVar(&o.namespaces, "namespace", nil, "Rego package whose rules apply (repeatable; default main)")
	f.BoolVar(&o.allowNet, strings.TrimPrefix(validate.AllowPolicyNetworkFlag, "--"), false,
		"let Rego policies call the built-ins that reach the network, files or the environment ("+strings.Join(validate.DisabledBuiltins(), ", ")+"); off: such a policy does not compile")
	f.BoolVar(&o.dryRun, "server-dry-run", false, "also apply every object with dryRun=All on the cluster of the kubeconfig")
	f.StringVarP(&o.output, "output", "o", "text", "output format: "+strings.Join(validate.Formats, "|"))
	f.StringVar(&o.failOn, "fail-on", "error", "lowest severity that fails the run: error|warning")
	f.StringArrayVar(&o.levels, "level", nil, "RULE-ID=error|warning|info|off: change a built-in rule's severity (repeatable)")
	f.StringVar(&o.color, "color", "auto", "colors in text output: auto|always|never")
	f.BoolVar(&o.listRules, "list-rules", false, "list the built-in security rules and exit")
	return cmd
}

func runValidate(cmd *cobra.Command, o *validateOptions, root string) error {
	opts, err := o.options(root)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	report, err := validate.Run(cmd.Context(), opts)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	out := cmd.OutOrStdout()
	w := validate.WriteOptions{Format: o.output, Color: o.useColor(out), Version: buildVersion()}
	if err := validate.Write(out, report, w); err != nil {
		return &exitError{code: 2, err: err}
	}
	failed := report.Count(validate.SeverityError) > 0 || (o.failOn == "warning" && report.Count(validate.SeverityWarning) > 0)
	if failed {
		return &exitError{code: 1}
	}
	return nil
}

// options checks the flags and builds the run's options.
func (o *validateOptions) options(root string) (validate.Options, error) {
	opts := validate.Options{Root: root, PolicyDirs: o.policies, Namespaces: o.namespaces, AllowPolicyNetwork: o.allowNet,
		Security: validate.SecurityOptions{Levels: map[string]validate.Severity{}}}
	if !slices.Contains(validate.Formats, o.output) {
		return opts, fmt.Errorf("--output %q: want one of %s", o.output, strings.Join(validate.Formats, ", "))
	}
	if o.failOn != "error" && o.failOn != "warning" {
		return opts, fmt.Errorf("--fail-on %q: want error or warning", o.failOn)
	}
	known := map[string]bool{}
	for _, r := range validate.SecurityRules() {
		known[r.ID] = true
	}
	for _, l := range o.levels {
		id, level, ok := strings.Cut(l, "=")
		if !ok || !known[id] || !slices.Contains([]string{"error", "warning", "info", "off"}, level) {
			return opts, fmt.Errorf("--level %q: want RULE-ID=error|warning|info|off with a rule of ferry validate --list-rules", l)
		}
		opts.Security.Levels[id] = validate.Severity(level)
	}
	if o.dryRun {
		cfg, err := o.kube.restConfig()
		if err != nil {
			return opts, err
		}
		if opts.DryRun, err = validate.NewServerDryRun(cfg); err != nil {
			return opts, err
		}
	}
	return opts, nil
}

func printRules(cmd *cobra.Command) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSEVERITY\tRULE\tFIX")
	for _, r := range validate.SecurityRules() {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.ID, r.Severity, r.Title, r.Fix)
	}
	return tw.Flush()
}

func (o *validateOptions) useColor(out any) bool {
	switch o.color {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := out.(*os.File)
	return ok && term.IsTerminal(int(f.Fd())) && os.Getenv("NO_COLOR") == ""
}
