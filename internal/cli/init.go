package cli

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ferrycd/ferry/internal/scaffold"
)

func newInitCmd() *cobra.Command {
	opts := scaffold.Options{}
	cmd := &cobra.Command{
		Use:   "init [DIR]",
		Short: "Scaffold a GitOps repository in DIR (default: gitops-repo): apps/, infrastructure/, clusters/",
		Long: `Scaffold a GitOps repository in DIR (default: gitops-repo), laid out as Argo CD and Flux users
commonly do: apps/ (a Kustomize directory per app and environment), infrastructure/ (namespaces,
network policies and resource quotas: a base and an overlay per environment; and charts/platform,
a Helm chart of per-team LimitRanges and PriorityClasses with a values file per environment, kept
in the repository so that rendering it fetches nothing), clusters/ (the Applications each
environment runs, the chart's with helm.valueFiles), policies/ (Rego policies for ferry validate)
and scripts/ (validate.sh for CI, bootstrap.sh to point a cluster at the repository). DIR becomes a Git
repository with everything committed on main (production, synced by hand) and a staging branch
(synced automatically).`,
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
			if abs, err := filepath.Abs(dir); err == nil && strings.TrimPrefix(opts.RepoURL, "file://") == abs {
				// The Applications read this directory itself: nothing to push,
				// but a controller reads a local repository only when told to.
				fmt.Fprintf(cmd.OutOrStdout(), "Its Applications read this directory (%s): run the controller with --allow-local-repositories, then point a cluster at it: scripts/bootstrap.sh staging\n", opts.RepoURL)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Push it to %s, then point a cluster at it: scripts/bootstrap.sh staging\n", opts.RepoURL)
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.RepoURL, "repo-url", "https://github.com/myorg/gitops-repo.git", "where the repository will live; the Applications in clusters/ point there")
	return cmd
}
