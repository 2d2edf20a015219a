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

// NewRootCmd returns the `ferry` command with the CLI's commands, plus
// extra: the commands that run the engine itself (`controller`, `demo`),
// which cmd/ferry adds so that this package never links the controller.
func NewRootCmd(streams IOStreams, extra ...*cobra.Command) *cobra.Command {
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
		newLocalCmd(),
		newVersionCmd(),
		newValidateCmd(),
		newImageCmd(),
		newNotifyCmd(),
		newAppSetCmd(),
		newClusterCmd(),
		newProjCmd(),
		newInstallCmd(), newUninstallCmd(), newCheckCmd(), newBootstrapCmd(),
		newUICmd(),
	)
	root.AddCommand(extra...)
	explainErrors(root)
	return root
}
