// Package promote implements promotion between environment branches: merge one
// environment branch into the next and push, so the Applications that follow
// the target branch pick the change up.
//
// Merging is done by git itself in a temporary clone: go-git cannot merge
// diverged branches, and a promotion must behave exactly as the merge a
// person would make.
package promote

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Options configure a promotion.
type Options struct {
	// Repo is the repository: a URL or a local path.
	Repo string
	// From and To are the branches: From is merged into To.
	From, To string
	// DryRun merges in the temporary clone without pushing.
	DryRun bool
}

// Result describes a promotion.
type Result struct {
	// Before and After are To's commit before and after the merge; equal
	// when there was nothing to promote.
	Before, After string
	// Changed lists the files the promotion changes on To.
	Changed []string
	// Dir is the temporary clone with To checked out at After; the caller
	// removes it (see Cleanup).
	Dir string
}

// Cleanup removes the temporary clone.
func (r *Result) Cleanup() { _ = os.RemoveAll(r.Dir) }

// Run merges From into To (a merge commit, or nothing when To already has
// every commit of From) and, unless DryRun, pushes To.
func Run(ctx context.Context, opts Options) (*Result, error) {
	dir, err := os.MkdirTemp("", "ferry-promote-")
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: dir}
	fail := func(err error) (*Result, error) { res.Cleanup(); return nil, err }
	repo, err := RepoURL(opts.Repo)
	if err != nil {
		return fail(err)
	}
	g := gitIn(ctx, dir)
	if _, err := g("clone", "-q", "--no-checkout", repo, "."); err != nil {
		return fail(err)
	}
	if _, err := g("checkout", "-q", "-B", opts.To, "origin/"+opts.To); err != nil {
		return fail(fmt.Errorf("branch %s: %w", opts.To, err))
	}
	if res.Before, err = g("rev-parse", "HEAD"); err != nil {
		return fail(err)
	}
	identity := []string{}
	if _, err := g("config", "user.email"); err != nil {
		identity = []string{"-c", "user.name=ferry promote", "-c", "user.email=ferry-promote@localhost"}
	}
	msg := fmt.Sprintf("Promote %s to %s", opts.From, opts.To)
	if _, err := g(append(identity, "merge", "-q", "--no-ff", "-m", msg, "origin/"+opts.From)...); err != nil {
		return fail(fmt.Errorf("merge %s into %s (resolve it by hand): %w", opts.From, opts.To, err))
	}
	if res.After, err = g("rev-parse", "HEAD"); err != nil {
		return fail(err)
	}
	if res.After != res.Before {
		changed, err := g("diff", "--name-only", res.Before, res.After)
		if err != nil {
			return fail(err)
		}
		res.Changed = strings.Fields(changed)
	}
	if !opts.DryRun && res.After != res.Before {
		if _, err := g("push", "-q", "origin", opts.To); err != nil {
			return fail(fmt.Errorf("push %s: %w", opts.To, err))
		}
	}
	return res, nil
}

// RepoURL is the repository to clone: a URL as given, or a local path made
// absolute (the clone runs in a temporary directory, where "." would name
// the clone itself).
func RepoURL(repo string) (string, error) {
	if repo == "" {
		repo = "."
	}
	if strings.Contains(repo, "://") || (strings.Contains(repo, "@") && strings.Contains(repo, ":")) {
		return repo, nil
	}
	abs, err := filepath.Abs(repo)
	if err != nil {
		return "", fmt.Errorf("--repo %s: %w", repo, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("--repo %s: %w", repo, err)
	}
	return "file://" + abs, nil
}

// Checkout checks out rev in the clone (for rendering a revision).
func (r *Result) Checkout(ctx context.Context, rev string) error {
	_, err := gitIn(ctx, r.Dir)("checkout", "-q", "--detach", rev)
	return err
}

func gitIn(ctx context.Context, dir string) func(args ...string) (string, error) {
	return func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(errOut.String()))
		}
		return strings.TrimSpace(out.String()), nil
	}
}
