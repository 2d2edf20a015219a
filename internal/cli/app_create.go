package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

type createOptions struct {
	repo, path, revision, destServer, destNamespace, project, syncPolicy string
	autoPrune, selfHeal                                                  bool
	syncOptions                                                          []string
}

func newAppCreateCmd(o *kubeOptions) *cobra.Command {
	c := &createOptions{}
	cmd := &cobra.Command{
		Use:   "create NAME --repo URL --path P --dest-server S --dest-namespace N",
		Short: "Create an Application",
		Example: `  ferry app create myapp-staging --repo https://github.com/myorg/gitops-repo.git --path apps/staging/myapp \
    --revision staging --dest-server https://kubernetes.default.svc --dest-namespace staging \
    --sync-policy automated --auto-prune --self-heal --sync-option CreateNamespace=true`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cl, err := o.client()
			if err != nil {
				return err
			}
			app, err := c.application(o.namespace, args[0])
			if err != nil {
				return err
			}
			if err := cl.Create(cmd.Context(), app); err != nil {
				return fmt.Errorf("create application %s/%s: %w", o.namespace, args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "application '%s' created\n", args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.repo, "repo", "", "Git repository URL (required)")
	f.StringVar(&c.path, "path", "", "path in the repository (required)")
	f.StringVar(&c.revision, "revision", "HEAD", "branch, tag or commit to follow")
	f.StringVar(&c.destServer, "dest-server", "https://kubernetes.default.svc", "destination cluster")
	f.StringVar(&c.destNamespace, "dest-namespace", "", "destination namespace (required)")
	f.StringVar(&c.project, "project", "default", "AppProject")
	f.StringVar(&c.syncPolicy, "sync-policy", "manual", "manual or automated")
	f.BoolVar(&c.autoPrune, "auto-prune", false, "with automated sync: delete objects removed from Git")
	f.BoolVar(&c.selfHeal, "self-heal", false, "with automated sync: revert changes made outside Git")
	f.StringArrayVar(&c.syncOptions, "sync-option", nil, "sync option such as CreateNamespace=true (repeatable)")
	for _, name := range []string{"repo", "path", "dest-namespace"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func (c *createOptions) application(namespace, name string) (*v1alpha1.Application, error) {
	app := &v1alpha1.Application{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: v1alpha1.ApplicationSpec{
			Project:     c.project,
			Source:      &v1alpha1.ApplicationSource{RepoURL: c.repo, Path: c.path, TargetRevision: c.revision},
			Destination: v1alpha1.ApplicationDestination{Server: c.destServer, Namespace: c.destNamespace},
		},
	}
	policy := &v1alpha1.SyncPolicy{SyncOptions: c.syncOptions}
	switch c.syncPolicy {
	case "automated", "auto", "automatic":
		policy.Automated = &v1alpha1.SyncPolicyAutomated{Prune: c.autoPrune, SelfHeal: c.selfHeal}
	case "manual", "none", "":
		if c.autoPrune || c.selfHeal {
			return nil, fmt.Errorf("--auto-prune and --self-heal need --sync-policy automated")
		}
	default:
		return nil, fmt.Errorf("--sync-policy %q: want manual or automated", c.syncPolicy)
	}
	if policy.Automated != nil || len(policy.SyncOptions) > 0 {
		app.Spec.SyncPolicy = policy
	}
	return app, nil
}

func newAppDeleteCmd(o *kubeOptions) *cobra.Command {
	var cascade bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete an Application and, with --cascade (the default), what it deployed",
		Example: `  ferry app delete myapp-staging
  ferry app delete myapp-staging --cascade=false   # keep the deployed objects`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			return deleteApp(cmd.Context(), c, client.ObjectKey{Namespace: o.namespace, Name: args[0]}, cascade, timeout, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&cascade, "cascade", true, "also delete the objects the Application deployed")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "how long to wait for the deletion")
	return cmd
}

// deleteApp deletes an Application. Cascading deletion works as in Argo CD:
// the finalizer resources-finalizer.argocd.argoproj.io makes the controller
// delete the managed objects first; without it they stay.
func deleteApp(ctx context.Context, c client.Client, key client.ObjectKey, cascade bool, timeout time.Duration, out io.Writer) error {
	const finalizer = "resources-finalizer.argocd.argoproj.io"
	app, err := getApp(ctx, c, key)
	if err != nil {
		return err
	}
	has := slices.Contains(app.Finalizers, finalizer)
	if cascade != has {
		patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
		if cascade {
			app.Finalizers = append(app.Finalizers, finalizer)
		} else {
			app.Finalizers = slices.DeleteFunc(app.Finalizers, func(f string) bool { return f == finalizer })
		}
		if err := c.Patch(ctx, app, patch); err != nil {
			return fmt.Errorf("set the deletion mode of %s: %w", key, err)
		}
	}
	if err := c.Delete(ctx, app); err != nil {
		return fmt.Errorf("delete application %s: %w", key, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = pollApp(ctx, c, key, func(_ *v1alpha1.Application, err error) (bool, error) {
		return apierrors.IsNotFound(err), nil
	})
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("application %s not deleted within %s (is the controller running?)", key, timeout)
	}
	if err != nil {
		return err
	}
	mode := "its objects kept"
	if cascade {
		mode = "with its objects"
	}
	fmt.Fprintf(out, "application '%s' deleted, %s\n", key.Name, mode)
	return nil
}
