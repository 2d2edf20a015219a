package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ferrycd/ferry/internal/bootstrap"
	"github.com/ferrycd/ferry/internal/install"
)

func newBootstrapCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bootstrap",
		Short: "Install Ferry so that it manages itself from Git",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newBootstrapGitCmd())
	return cmd
}

func newBootstrapGitCmd() *cobra.Command {
	o := &installFlags{}
	opts := bootstrap.Options{}
	cmd := &cobra.Command{
		Use:   "git",
		Short: "Commit Ferry's install manifests and a root Application to a Git repository, push, and install",
		Long: `Put this cluster's Ferry under Git's management, as flux bootstrap does for Flux:

 1. commit PATH/` + bootstrap.Dir + `/` + bootstrap.InstallFile + ` (ferry install --export's manifests) and
    PATH/` + bootstrap.Dir + `/` + bootstrap.RootFile + ` (the Application ` + bootstrap.RootName + `: every file under PATH,
    recursively, synced automatically) to BRANCH, and push; nothing is committed when Git has them;
 2. install from those manifests, give the controller the credentials as an Argo CD
    repository Secret (` + bootstrap.RepositorySecret + `; never committed), and create the root Application;
 3. wait until the controller has rolled out.

From then on Ferry keeps itself matching Git: an upgrade is a commit that changes the image in
` + bootstrap.InstallFile + `, and the Applications of the cluster go under PATH (ferry init's
clusters/production and clusters/staging work as they are). Running it again with the same
flags changes nothing; when Ferry's files in Git were changed since (an upgrade, a replica count),
it refuses to undo that unless --force.`,
		Example: `  ferry bootstrap git --url https://git.example.com/org/gitops.git --branch main \
      --path clusters/production --username ferry --password "$GIT_TOKEN"
  ferry bootstrap git --url ssh://git@git.example.com/org/gitops.git --path clusters/staging \
      --branch staging --private-key-file ~/.ssh/ferry`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.URL == "" {
				return fmt.Errorf("--url: the Git repository is required")
			}
			if opts.PrivateKeyFile != "" && opts.Password != "" {
				return fmt.Errorf("--private-key-file and --password: give one (ssh or HTTPS)")
			}
			if opts.Install.Replicas < 1 {
				return fmt.Errorf("--replicas %d: want 1 or more", opts.Install.Replicas)
			}
			opts.Install.Namespace = o.namespace
			if opts.Install.Image == "" && !install.IsRelease(install.DefaultImage()) {
				fmt.Fprintf(cmd.ErrOrStderr(), "Warning: this ferry build has no release version, so Git gets the image %s, which exists only if you built and pushed it (make image PUSH=...); --image names another.\n",
					install.DefaultImage())
			}
			out := cmd.OutOrStdout()
			if err := opts.Check(); err != nil {
				return err
			}
			if opts.PrivateKeyFile != "" {
				if _, err := opts.KnownHosts(); err != nil { // before anything is pushed
					return err
				}
			}
			files, err := bootstrap.Files(opts)
			if err != nil {
				return err
			}
			// The cluster answers before anything is pushed: a wrong
			// kubeconfig must not leave a commit behind.
			k, err := o.cluster()
			if err != nil {
				return err
			}
			if _, err := k.Discovery.ServerVersion(); err != nil {
				return fmt.Errorf("reach the cluster (nothing committed): %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
			defer cancel()
			res, err := bootstrap.Commit(ctx, opts, files)
			if err != nil {
				return err
			}
			if len(res.Changed) == 0 {
				fmt.Fprintf(out, "Git has Ferry's manifests at %s (%.7s): nothing to commit\n", opts.Branch, res.Commit)
			} else {
				fmt.Fprintf(out, "committed and pushed %.7s to %s: %v\n", res.Commit, opts.Branch, res.Changed)
			}
			if err := bootstrap.Install(ctx, k, opts, files, out); err != nil {
				return err
			}
			fmt.Fprintf(out, "Ferry manages itself from %s (branch %s, path %s): commit there to change it.\n", opts.URL, opts.Branch, opts.Path)
			return nil
		},
	}
	f := cmd.Flags()
	o.add(f, 5*time.Minute)
	f.StringVar(&opts.URL, "url", "", "the Git repository (HTTPS or ssh)")
	f.StringVar(&opts.Branch, "branch", "main", "the branch the cluster follows (made when missing)")
	f.StringVar(&opts.Path, "path", "", "the cluster's directory in the repository (e.g. clusters/production)")
	f.StringVarP(&opts.Username, "username", "u", "", "HTTPS user name")
	f.StringVarP(&opts.Password, "password", "p", "", "HTTPS password or token")
	f.StringVar(&opts.PrivateKeyFile, "private-key-file", "", "ssh private key; the server's host key is read from $SSH_KNOWN_HOSTS or ~/.ssh/known_hosts, and given to the controller in argocd-ssh-known-hosts-cm")
	f.StringVar(&opts.Install.Image, "image", "", "the controller's image, a whole reference (default "+install.DefaultImage()+")")
	f.Int32Var(&opts.Install.Replicas, "replicas", 1, "controller replicas (they share the Applications; docs/install.md)")
	f.StringVar(&opts.AuthorName, "author-name", "Ferry", "the commit's author")
	f.StringVar(&opts.AuthorEmail, "author-email", "ferry@localhost", "the commit author's email")
	f.BoolVar(&opts.Force, "force", false, "overwrite Ferry's files in Git when they differ (changed in Git since the last bootstrap)")
	_ = cmd.MarkFlagRequired("path")
	return cmd
}
