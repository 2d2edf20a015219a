package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferrycd/ferry/internal/localcluster"
)

// newDemoCmd runs Ferry's main job on an embedded local control plane. Until
// the sync engine exists it brings up the control plane only and says so.
func newDemoCmd() *cobra.Command {
	var binDir string
	var nodes int
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run Ferry on an embedded local control plane until interrupted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), binDir, nodes)
		},
	}
	cmd.Flags().StringVar(&binDir, "kube-dir", "", "directory of the control-plane binaries (default: the cache `make kube` builds into)")
	cmd.Flags().IntVar(&nodes, "nodes", 2, "number of fake Nodes")
	return cmd
}

func runDemo(ctx context.Context, out io.Writer, binDir string, nodes int) error {
	fmt.Fprintf(out, "Starting a local Kubernetes %s control plane with %d fake nodes...\n", localcluster.KubeVersion, nodes)
	began := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{Mode: localcluster.ModeFull, Nodes: nodes, BinDir: binDir})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, "Stopping the local control plane...")
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if err := c.Stop(stopCtx); err != nil {
			fmt.Fprintf(out, "stop: %v\n", err)
		}
	}()
	fmt.Fprintf(out, "Ready in %s at %s; components: %v\n", time.Since(began).Round(100*time.Millisecond), c.Server(), c.PIDs())
	ready, total, err := readyNodes(ctx, c.KubeconfigPath())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Nodes Ready: %d/%d\n\n", ready, total)
	fmt.Fprintf(out, "Ferry's sync engine is not built yet, so there is nothing to sync: this demo\n")
	fmt.Fprintf(out, "shows the control plane Ferry's tests and benchmarks run on. Try, in another shell:\n\n")
	fmt.Fprintf(out, "  %s/kubectl --kubeconfig %s get nodes\n\n", c.BinDir(), c.KubeconfigPath())
	fmt.Fprintln(out, "Press Ctrl-C to stop; everything started is cleaned up.")
	<-ctx.Done()
	return nil
}
