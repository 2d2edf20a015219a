package main

import (
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/ferrycd/ferry/internal/demo"
)

// newDemoCmd runs an example GitOps workflow on an embedded local control
// plane.
func newDemoCmd() *cobra.Command {
	opts := demo.Options{}
	cmd := &cobra.Command{
		Use:     "demo",
		Short:   "Start a local control plane, lay out an example GitOps repository and run Ferry's controller against it until interrupted",
		Example: "  ferry demo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The controller's log goes to a file, so the status table stays readable.
			logPath := filepath.Join(os.TempDir(), "ferry-demo-controller.log")
			logFile, err := os.Create(logPath)
			if err != nil {
				return err
			}
			defer logFile.Close()
			ctrl.SetLogger(zap.New(zap.WriteTo(logFile)))
			cmd.Printf("Controller log: %s\n", logPath)
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.BinDir, "kube-dir", "", "directory of the control-plane binaries (default: the cache `make kube` builds into)")
	cmd.Flags().IntVar(&opts.Nodes, "nodes", 2, "number of fake Nodes")
	cmd.Flags().BoolVar(&opts.ExitWhenReady, "exit-when-ready", false, "stop once staging is Synced and production awaits a manual sync")
	_ = cmd.Flags().MarkHidden("exit-when-ready")
	return cmd
}
