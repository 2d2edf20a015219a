package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ferrycd/ferry/internal/buildinfo"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// versionInfo is what `ferry version -o json` prints.
type versionInfo struct {
	buildinfo.Info
	// LocalKubernetes is the Kubernetes version `ferry local` and `make
	// demo` run.
	LocalKubernetes string `json:"localKubernetes"`
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print Ferry's version, commit and Go version, and the Kubernetes version of its local control plane",
		Example: `  ferry version
  ferry version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := versionInfo{Info: buildinfo.Read(), LocalKubernetes: localcluster.KubeVersion}
			out := cmd.OutOrStdout()
			switch output {
			case "json", "yaml":
				return printStructured(out, output, v)
			case "":
			default:
				return fmt.Errorf("--output %q: want json or yaml", output)
			}
			commit := v.Commit
			if commit == "" {
				commit = "unknown"
			} else if v.Modified {
				commit += " (modified)"
			}
			fmt.Fprintf(out, "ferry %s\ncommit: %s\ngo: %s %s\nlocal control plane: Kubernetes %s\n",
				v.Version, commit, v.GoVersion, v.Platform, v.LocalKubernetes)
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml")
	return cmd
}

// buildVersion is the version the binary was built as.
func buildVersion() string { return buildinfo.Read().Version }
