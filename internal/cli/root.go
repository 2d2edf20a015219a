// Package cli builds Ferry's cobra command tree. Every command is made by a
// newXCmd constructor that takes its dependencies, so there is no global
// command or flag state and tests can run commands in-process.
package cli

import (
	"io"

	"github.com/spf13/cobra"
)

// IOStreams are the streams commands read and write; tests pass buffers.
type IOStreams struct {
	In       io.Reader
	Out, Err io.Writer
}

// NewRootCmd returns the `ferry` command.
func NewRootCmd(streams IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:           "ferry",
		Short:         "Ferry keeps Kubernetes clusters matching Git",
		Example:       "  ferry demo\n  ferry controller --kubeconfig ~/.kube/config\n  ferry app list",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.Err)
	root.AddCommand(
		newAppCmd(),
		newInitCmd(),
		newPromoteCmd(),
		newControllerCmd(),
		newLocalCmd(),
		newDemoCmd(),
		newVersionCmd(),
		newValidateCmd(),
		newImageCmd(),
		newNotifyCmd(),
		newAppSetCmd(),
		newClusterCmd(),
	)
	return root
}
