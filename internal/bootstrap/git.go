package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
)

// CommitResult is what Commit did.
type CommitResult struct {
	// Commit is the branch's head after Commit: the new commit, or the one
	// that already had the files.
	Commit string
	// Changed lists the files written; empty when Git had them already.
	Changed []string
	// NewBranch is true when the branch did not exist and was made (from
	// the default branch, or as the first commit of an empty repository).
	NewBranch bool
}

// Commit clones the branch, writes files, and commits and pushes them when
// they differ from what the branch has. Errors never quote the password.
func Commit(ctx context.Context, opts Options, files map[string][]byte) (CommitResult, error) {
	res, err := commit(ctx, opts, files)
	if err != nil && opts.Password != "" {
		err = errors.New(strings.ReplaceAll(err.Error(), opts.Password, "***"))
	}
	return res, err
}

func commit(ctx context.Context, opts Options, files map[string][]byte) (CommitResult, error) {
	auth, err := opts.auth()
	if err != nil {
		return CommitResult{}, err
	}
	dir, err := os.MkdirTemp("", "ferry-bootstrap-")
	if err != nil {
		return CommitResult{}, err
	}
	defer os.RemoveAll(dir)
	repo, res, err := checkout(ctx, dir, opts, auth)
	if err != nil {
		return CommitResult{}, err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return CommitResult{}, err
	}
	var differ []string
	for _, name := range sortedKeys(files) {
		full := filepath.Join(dir, filepath.FromSlash(name))
		old, err := os.ReadFile(full)
		if err == nil && bytes.Equal(old, files[name]) {
			continue
		}
		if err == nil && !opts.Force {
			// Changed in Git since (an upgrade, a new replica count):
			// bootstrap must not undo it.
			differ = append(differ, name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return CommitResult{}, err
		}
		if err := os.WriteFile(full, files[name], 0o644); err != nil {
			return CommitResult{}, err
		}
		if _, err := wt.Add(name); err != nil {
			return CommitResult{}, fmt.Errorf("git add %s: %w", name, err)
		}
		res.Changed = append(res.Changed, name)
	}
	if len(differ) > 0 {
		return CommitResult{}, fmt.Errorf("%s at branch %s differ from what bootstrap writes with these flags (changed in Git since?): "+
			"nothing committed; pass the flags that give them, or --force to overwrite them", strings.Join(differ, ", "), opts.Branch)
	}
	if len(res.Changed) == 0 {
		head, err := repo.Head()
		if err != nil {
			return CommitResult{}, err
		}
		res.Commit = head.Hash().String()
		return res, nil
	}
	sig := &object.Signature{Name: opts.AuthorName, Email: opts.AuthorEmail, When: time.Now()}
	msg := fmt.Sprintf("Add Ferry to %s\n\nInstall manifests and the root Application, written by ferry bootstrap.\n", strings.TrimSuffix(opts.Path, "/"))
	hash, err := wt.Commit(msg, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return CommitResult{}, fmt.Errorf("commit: %w", err)
	}
	spec := config.RefSpec(fmt.Sprintf("refs/heads/%s:refs/heads/%s", opts.Branch, opts.Branch))
	err = repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return CommitResult{}, fmt.Errorf("push to %s at branch %s: %w", opts.URL, opts.Branch, err)
	}
	res.Commit = hash.String()
	return res, nil
}

// checkout clones the branch into dir; a branch that does not exist yet
// starts from the default branch, or, in an empty repository, from
// nothing.
func checkout(ctx context.Context, dir string, opts Options, auth transport.AuthMethod) (*git.Repository, CommitResult, error) {
	branch := plumbing.NewBranchReferenceName(opts.Branch)
	repo, err := git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: opts.URL, Auth: auth, ReferenceName: branch, SingleBranch: true})
	if err == nil {
		return repo, CommitResult{}, nil
	}
	if !errors.Is(err, transport.ErrEmptyRemoteRepository) && !isMissingRef(err) {
		return nil, CommitResult{}, fmt.Errorf("clone %s at branch %s: %w", opts.URL, opts.Branch, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return nil, CommitResult{}, err
	}
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return emptyRepository(dir, opts)
	}
	repo, err = git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{URL: opts.URL, Auth: auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		_ = os.RemoveAll(dir)
		return emptyRepository(dir, opts)
	}
	if err != nil {
		return nil, CommitResult{}, fmt.Errorf("clone %s: %w", opts.URL, err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		return nil, CommitResult{}, err
	}
	if err := wt.Checkout(&git.CheckoutOptions{Branch: branch, Create: true}); err != nil {
		return nil, CommitResult{}, fmt.Errorf("create branch %s: %w", opts.Branch, err)
	}
	return repo, CommitResult{NewBranch: true}, nil
}

// emptyRepository starts the branch in a repository with no commit.
func emptyRepository(dir string, opts Options) (*git.Repository, CommitResult, error) {
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.NewBranchReferenceName(opts.Branch)}})
	if err != nil {
		return nil, CommitResult{}, err
	}
	if _, err := repo.CreateRemote(&config.RemoteConfig{Name: "origin", URLs: []string{opts.URL}}); err != nil {
		return nil, CommitResult{}, err
	}
	return repo, CommitResult{NewBranch: true}, nil
}

func isMissingRef(err error) bool {
	return errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")
}

// auth is the Git authentication the options give.
func (o Options) auth() (transport.AuthMethod, error) {
	switch {
	case o.PrivateKeyFile != "":
		user := "git"
		if ep, err := transport.NewEndpoint(o.URL); err == nil && ep.User != "" {
			user = ep.User
		}
		keys, err := gitssh.NewPublicKeysFromFile(user, o.PrivateKeyFile, "")
		if err != nil {
			return nil, fmt.Errorf("--private-key-file %s: %w", o.PrivateKeyFile, err)
		}
		return keys, nil // host keys: ~/.ssh/known_hosts, as git does
	case o.Username != "" || o.Password != "":
		return &githttp.BasicAuth{Username: o.Username, Password: o.Password}, nil
	}
	return nil, nil
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
