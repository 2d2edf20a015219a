package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/appview"
)

// newClusterRmCmd is `ferry cluster rm`: it deletes the cluster Secret and
// leaves the target cluster alone.
func newClusterRmCmd(o *kubeOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NAME|SERVER",
		Aliases: []string{"remove", "delete"},
		Short:   "Unregister a cluster (delete its Secret); its ServiceAccount stays on the cluster",
		Example: "  ferry cluster rm prod-us-east\n  ferry cluster rm https://10.0.0.1:6443 --force",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, entries, err := o.clusterView(cmd.Context())
			if err != nil {
				return err
			}
			e, err := findCluster(entries, args[0], o.namespace)
			if err != nil {
				return err
			}
			if err := removeCluster(cmd.Context(), c, e, force); err != nil {
				return err
			}
			printRemoved(cmd.OutOrStdout(), e)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "remove the cluster even while Applications target it")
	return cmd
}

// removeCluster deletes the entry's Secret, refusing while Applications
// target it unless force.
func removeCluster(ctx context.Context, c client.Client, e *appview.Cluster, force bool) error {
	if e.Secret == "" {
		return fmt.Errorf("cluster %s (%s) has no Secret: the in-cluster entry is implicit and cannot be removed", e.Name, e.Server)
	}
	if n := len(e.Applications); n > 0 && !force {
		return fmt.Errorf("%d Applications target %s: %s; move them or pass --force", n, e.Server, strings.Join(e.Applications, ", "))
	}
	ns, name, _ := strings.Cut(e.Secret, "/")
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	if err := c.Delete(ctx, s); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Secret %s: %w", e.Secret, err)
	}
	return nil
}

// printRemoved confirms the removal and says what was left on the cluster.
func printRemoved(w io.Writer, e *appview.Cluster) {
	fmt.Fprintf(w, "Cluster '%s' removed\n", e.Server)
	fmt.Fprintf(w, "The ServiceAccount, its token Secret, %s and %s that `ferry cluster add` created on the cluster are left in place (by default in kube-system); delete them there to revoke the token.\n",
		clusterRoleName, clusterRoleBinding)
}
