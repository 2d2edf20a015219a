package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/appview"
)

// newAppTerminateOpCmd stops a running sync as argocd app terminate-op
// does (appview.Terminate): the controller checks between steps and while
// it waits on a wave.
func newAppTerminateOpCmd(o *kubeOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "terminate-op NAME",
		Short:   "Stop the running sync of an Application (between steps, or while it waits on a wave)",
		Example: "  ferry app terminate-op myapp-production",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := o.client()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			key := client.ObjectKey{Namespace: o.namespace, Name: args[0]}
			// getApp first: a name not found says where to look.
			if _, err := getApp(ctx, c, key); err != nil {
				return fmt.Errorf("terminate the operation of %s: %w", key, err)
			}
			if err := appview.Terminate(ctx, c, key); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Application '%s' operation terminating\n", args[0])
			return nil
		},
	}
}
