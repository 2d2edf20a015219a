package cli

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// newAppTerminateOpCmd stops a running sync as argocd app terminate-op
// does: it sets status.operationState.phase to Terminating, which the
// controller checks between steps and while it waits on a wave.
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
			// Optimistic lock: a sync that finished in between is not
			// marked; a progress report written in between is retried over.
			err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
				app, err := getApp(ctx, c, key)
				if err != nil {
					return err
				}
				if st := app.Status.OperationState; st == nil || st.Phase != v1alpha1.OperationRunning {
					return fmt.Errorf("application %s has no operation in progress", key)
				}
				patch := client.MergeFromWithOptions(app.DeepCopy(), client.MergeFromWithOptimisticLock{})
				app.Status.OperationState.Phase = v1alpha1.OperationTerminating
				return c.Status().Patch(ctx, app, patch)
			})
			if err != nil {
				return fmt.Errorf("terminate the operation of %s: %w", key, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Application '%s' operation terminating\n", args[0])
			return nil
		},
	}
}
