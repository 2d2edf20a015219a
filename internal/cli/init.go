package cli

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/ferrycd/ferry/internal/scaffold"
)

func newInitCmd() *cobra.Command {
	opts := scaffold.Options{}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Scaffold the seed's recommended GitOps repository in DIR (default: gitops-repo)",
		Example: `  ferry init gitops-repo --repo-url https://github.com/myorg/gitops-repo.git
  cd gitops-repo && scripts/validate.sh`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := "gitops-repo"
			if len(args) == 1 {
				dir = args[0]
			}
			files, err := scaffold.Init(cmd.Context(), dir, opts)
			if err != nil {
				return err
			}
			slices.Sort(files)
			for _, f := range files {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s\n", f)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nCreated %s: a Git repository with branches main (production) and staging.\n", dir)
			fmt.Fprintf(cmd.OutOrStdout(), "Push it to %s, then point a cluster at it: scripts/bootstrap.sh staging\n", opts.RepoURL)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.RepoURL, "repo-url", "https://github.com/myorg/gitops-repo.git", "where the repository will live; the Applications in clusters/ point there")
	return cmd
}
