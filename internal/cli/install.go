package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/ferrycd/ferry/internal/install"
)

// installFlags are the flags that say what to render, shared by install,
// uninstall and check.
type installFlags struct {
	kube      kubeOptions
	namespace string
	timeout   time.Duration
}

func (o *installFlags) add(f *pflag.FlagSet, timeout time.Duration) {
	o.kube.addConfigFlags(f)
	f.StringVarP(&o.namespace, "namespace", "n", install.DefaultNamespace, "Ferry's home namespace: the controller, its RBAC, repository and cluster Secrets")
	if timeout > 0 {
		f.DurationVar(&o.timeout, "timeout", timeout, "how long to wait")
	}
}

// cluster connects with the user's kubeconfig.
func (o *installFlags) cluster() (*install.Cluster, error) {
	cfg, err := o.kube.restConfig()
	if err != nil {
		return nil, err
	}
	return install.NewCluster(cfg)
}

func newInstallCmd() *cobra.Command {
	o := &installFlags{}
	var opts install.Options
	var export, wait bool
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install Ferry on the cluster: CRDs, the controller, its RBAC (server-side apply, idempotent)",
		Long: `Install or upgrade Ferry on the cluster of the kubeconfig: the CRDs, the ` + install.Name + ` Deployment,
its ServiceAccount and RBAC, a Service for webhooks and metrics, a PodDisruptionBudget and a
NetworkPolicy, rendered from the kustomize base the binary embeds (config/install). Objects are
server-side applied as the field manager ` + install.FieldManager + `, so running it again changes
only what differs. It then waits until the controller has rolled out.

--export prints the manifests instead and needs no cluster. docs/install.md explains every object
and every RBAC rule.`,
		Example: `  ferry install --image registry.example/ferry:v1.2.3
  ferry install --export --namespace ferry-system > ferry.yaml
  ferry install --replicas 2 --timeout 10m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.Namespace = o.namespace
			if opts.Replicas < 1 {
				return fmt.Errorf("--replicas %d: want 1 or more (ferry uninstall removes Ferry)", opts.Replicas)
			}
			if opts.Image == "" && !install.IsRelease(install.DefaultImage()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: this ferry build has no release version, so it deploys the image %s, which exists only if you built and pushed it (make image PUSH=...); --image names another.\n",
					install.DefaultImage())
			}
			if export {
				data, err := install.Export(opts)
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(data)
				return err
			}
			objs, err := install.Render(opts)
			if err != nil {
				return err
			}
			k, err := o.cluster()
			if err != nil {
				return err
			}
			return runInstall(cmd.Context(), k, objs, wait, o.timeout, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	o.add(f, 5*time.Minute)
	f.BoolVar(&export, "export", false, "print the manifests as YAML instead of applying them (no cluster needed)")
	f.StringVar(&opts.Image, "image", "", "the controller's image, a whole reference (REPOSITORY:TAG or REPOSITORY@DIGEST) (default "+install.DefaultImage()+")")
	f.Int32Var(&opts.Replicas, "replicas", 1, "controller replicas: they share the Applications, one leads for ApplicationSets and image automation (docs/install.md)")
	f.BoolVar(&wait, "wait", true, "wait until the controller has rolled out")
	return cmd
}

// runInstall applies objs, says what changed, and waits.
func runInstall(ctx context.Context, k *install.Cluster, objs []*unstructured.Unstructured, wait bool, timeout time.Duration, out io.Writer) error {
	results, err := k.Apply(ctx, objs)
	install.Report(out, results)
	if err != nil {
		return err
	}
	if !wait {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := k.Wait(ctx, objs, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ferry is running in namespace %s. `ferry check` checks the install; Applications go in %s.\n",
		install.Namespace(objs), install.Namespace(objs))
	return nil
}

func newUninstallCmd() *cobra.Command {
	o := &installFlags{}
	var yes bool
	var uopts install.UninstallOptions
	cmd := &cobra.Command{
		Use:   "uninstall",
		Short: "Remove Ferry from the cluster; what its Applications deployed stays",
		Long: `Remove what ferry install installed: the controller first (its pods waited out), then the
finalizers of Ferry's objects (so that nothing cascades), then its RBAC, Service and CRDs with
every Application, ApplicationSet, AppProject and image automation object. The namespace goes only
when nothing but Ferry's own is left in it.

The workloads Applications deployed stay where they are: Ferry tracks them with an annotation,
not an owner reference, so nothing deletes them. --keep-crds also keeps the CRDs and their
objects (a reinstall, or CRDs shared with Argo CD or Flux).`,
		Example: `  ferry uninstall
  ferry uninstall --keep-crds --yes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, err := install.Render(install.Options{Namespace: o.namespace})
			if err != nil {
				return err
			}
			cfg, err := o.kube.restConfig()
			if err != nil {
				return err
			}
			if !yes {
				question := fmt.Sprintf("uninstall Ferry from %s (namespace %s)", cfg.Host, o.namespace)
				if !uopts.KeepCRDs {
					question += ", deleting its CRDs with every Application, ApplicationSet and AppProject"
				}
				if err := confirm(cmd, question); err != nil {
					return err
				}
			}
			k, err := install.NewCluster(cfg)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			out := cmd.OutOrStdout()
			r, err := k.Uninstall(ctx, objs, uopts, out)
			if err != nil {
				return err
			}
			printRemoval(out, o.namespace, r)
			return nil
		},
	}
	f := cmd.Flags()
	o.add(f, 5*time.Minute)
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	f.BoolVar(&uopts.KeepCRDs, "keep-crds", false, "keep the CRDs, and so every Application, ApplicationSet, AppProject and image automation object")
	return cmd
}

// confirm asks a yes/no question on the terminal; without one it refuses,
// since nobody can answer.
func confirm(cmd *cobra.Command, question string) error {
	in := cmd.InOrStdin()
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return fmt.Errorf("%s: not confirmed (the input is not a terminal to ask on); pass --yes", question)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%s? [y/N] ", strings.ToUpper(question[:1])+question[1:])
	answer, _ := bufio.NewReader(in).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
		return fmt.Errorf("not confirmed: nothing removed")
	}
	return nil
}

func printRemoval(w io.Writer, namespace string, r *install.Removal) {
	fmt.Fprintf(w, "Deleted %d objects:\n", len(r.Deleted))
	for _, d := range r.Deleted {
		fmt.Fprintf(w, "  %s\n", d)
	}
	if r.NamespaceKept {
		more := ""
		if r.MoreLeftovers > 0 {
			more = fmt.Sprintf(" and %d more", r.MoreLeftovers)
		}
		fmt.Fprintf(w, "Namespace %s kept: it holds %s%s.\n", namespace, strings.Join(r.Leftovers, ", "), more)
	}
	fmt.Fprintln(w, "Ferry is uninstalled. Every workload its Applications deployed was left in place, with its tracking annotation: a new install takes it over again.")
}

func newCheckCmd() *cobra.Command {
	o := &installFlags{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Check the cluster for Ferry: Kubernetes version, your rights to install, the CRDs and the controller",
		Long: `Check the cluster of the kubeconfig: its Kubernetes version (at least ` + install.MinKubernetes + `), whether you may
install Ferry (SelfSubjectAccessReviews for every resource ferry install applies, and the right to
grant what its ClusterRoles grant), and, when Ferry is installed, whether its CRDs are Established
and its controller available. Before an install, the last two are skipped.

Exit code 0: every check passed; 1: one failed.`,
		Example: "  ferry check\n  ferry check --namespace ferry-system --context prod",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			objs, err := install.Render(install.Options{Namespace: o.namespace})
			if err != nil {
				return err
			}
			k, err := o.cluster()
			if err != nil {
				return err
			}
			findings := k.Check(cmd.Context(), objs)
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CHECK\tSTATUS\tDETAIL")
			for _, f := range findings {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Check, f.Status, f.Detail)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if install.Failed(findings) {
				return &exitError{code: 1, err: fmt.Errorf("the cluster is not ready for Ferry: see FAIL above")}
			}
			return nil
		},
	}
	o.add(cmd.Flags(), 0)
	return cmd
}
