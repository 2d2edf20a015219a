// Package gitupdate carries out one run of an image update automation: clone
// the repository at a branch, apply the Setters markers of the chosen images
// (internal/image/setters), commit with the automation's author and message
// template, and push, refetching and reapplying when someone pushed first.
package gitupdate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"k8s.io/apimachinery/pkg/types"

	"github.com/ferrycd/ferry/internal/image/setters"
)

// Options are one run's inputs.
type Options struct {
	URL  string
	Auth transport.AuthMethod
	// Secrets never appear in errors (passwords, tokens).
	Secrets []string
	// CheckoutBranch is cloned; PushBranch is pushed to (default the
	// checkout branch). When PushBranch differs and exists, it is cloned
	// instead, so successive runs stack on it as in Flux.
	CheckoutBranch, PushBranch string
	// Path is the automation's update.path ("./apps"); default the root.
	Path string
	// Images are the policies' choices, by "namespace:name".
	Images map[string]setters.Image
	// AuthorName and AuthorEmail sign the commit (author and committer).
	AuthorName, AuthorEmail string
	// MessageTemplate is a Go template (see TemplateData); empty gives
	// Flux's default message.
	MessageTemplate string
	// Automation names the ImageUpdateAutomation, for the template.
	Automation types.NamespacedName
	// Values are the automation's messageTemplateValues.
	Values map[string]string
	// DryRun computes the change and stops before committing.
	DryRun bool
	// Attempts bounds the clone-apply-push cycles when pushes are rejected
	// as non-fast-forward; default 3.
	Attempts int
	// Timeout bounds the whole run, clones and pushes included (the
	// GitRepository's spec.timeout); zero means none.
	Timeout time.Duration

	// beforePush, in tests, runs between commit and push.
	beforePush func()
}

// FileChange is one file's contents before and after.
type FileChange struct {
	Old, New []byte
}

// Result is what a run did.
type Result struct {
	Changes []setters.Change
	Files   map[string]FileChange
	// Commit is the pushed commit; empty when nothing changed or DryRun.
	Commit string
	Branch string
	// Message is the commit message (also set for a dry run with changes).
	Message string
	// Skipped are files that did not parse.
	Skipped []string
}

// Run performs one update.
func Run(ctx context.Context, opts Options) (Result, error) {
	if opts.Attempts <= 0 {
		opts.Attempts = 3
	}
	if opts.PushBranch == "" {
		opts.PushBranch = opts.CheckoutBranch
	}
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	var last error
	for range opts.Attempts {
		res, err := attempt(ctx, opts)
		if err == nil || !errors.Is(err, git.ErrNonFastForwardUpdate) && !isRejected(err) {
			return res, redact(err, opts.Secrets)
		}
		last = err // someone pushed first: clone again, reapply, push again
	}
	return Result{}, redact(fmt.Errorf("push to %s: rejected %d times: %w", opts.PushBranch, opts.Attempts, last), opts.Secrets)
}

func isRejected(err error) bool {
	return err != nil && (strings.Contains(err.Error(), "non-fast-forward") || strings.Contains(err.Error(), "fetch first"))
}

func attempt(ctx context.Context, opts Options) (Result, error) {
	dir, err := os.MkdirTemp("", "ferry-image-update-")
	if err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(dir)
	repo, branch, err := clone(ctx, dir, opts)
	if err != nil {
		return Result{}, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Result{}, err
	}
	defer root.Close()
	applied, err := setters.Apply(root.FS(), cleanPath(opts.Path), opts.Images)
	if err != nil {
		return Result{}, fmt.Errorf("update %s: %w", opts.Path, err)
	}
	res := Result{Changes: applied.Changes, Files: map[string]FileChange{}, Branch: opts.PushBranch, Skipped: applied.Skipped}
	if len(applied.Files) == 0 {
		return res, nil
	}
	for name, data := range applied.Files {
		old, err := root.ReadFile(name)
		if err != nil {
			return Result{}, err
		}
		res.Files[name] = FileChange{Old: old, New: data}
	}
	if res.Message, err = message(opts, applied); err != nil {
		return Result{}, err
	}
	if opts.DryRun {
		return res, nil
	}
	for name, fc := range res.Files {
		if err := root.WriteFile(name, fc.New, 0o644); err != nil {
			return Result{}, err
		}
	}
	hash, err := commit(repo, res, opts)
	if err != nil {
		return Result{}, err
	}
	if opts.beforePush != nil {
		opts.beforePush()
	}
	if err := push(ctx, repo, branch, opts); err != nil {
		return Result{}, err
	}
	res.Commit = hash.String()
	return res, nil
}

// cleanPath turns update.path ("./apps", "/apps", "") into an fs path.
func cleanPath(p string) string {
	p = strings.TrimPrefix(filepath.ToSlash(filepath.Clean("/"+p)), "/")
	if p == "" {
		return "."
	}
	return p
}

// clone clones the push branch when it differs from the checkout branch and
// exists, else the checkout branch; it returns the branch cloned.
func clone(ctx context.Context, dir string, opts Options) (*git.Repository, string, error) {
	branches := []string{opts.CheckoutBranch}
	if opts.PushBranch != opts.CheckoutBranch {
		branches = []string{opts.PushBranch, opts.CheckoutBranch}
	}
	var err error
	for _, b := range branches {
		var repo *git.Repository
		repo, err = git.PlainCloneContext(ctx, dir, false, &git.CloneOptions{
			URL: opts.URL, Auth: opts.Auth, ReferenceName: plumbing.NewBranchReferenceName(b), SingleBranch: true,
		})
		if err == nil {
			return repo, b, nil
		}
		if len(branches) == 2 && b == opts.PushBranch && isMissingRef(err) {
			if rmErr := os.RemoveAll(dir); rmErr != nil {
				return nil, "", rmErr
			}
			if mkErr := os.MkdirAll(dir, 0o700); mkErr != nil {
				return nil, "", mkErr
			}
			continue
		}
		break
	}
	return nil, "", fmt.Errorf("clone %s at branch %s: %w", opts.URL, opts.CheckoutBranch, err)
}

func isMissingRef(err error) bool {
	return errors.Is(err, plumbing.ErrReferenceNotFound) || strings.Contains(err.Error(), "couldn't find remote ref")
}

func commit(repo *git.Repository, res Result, opts Options) (plumbing.Hash, error) {
	wt, err := repo.Worktree()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	names := make([]string, 0, len(res.Files))
	for name := range res.Files {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if _, err := wt.Add(name); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("git add %s: %w", name, err)
		}
	}
	sig := &object.Signature{Name: opts.AuthorName, Email: opts.AuthorEmail, When: time.Now()}
	hash, err := wt.Commit(res.Message, &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("commit: %w", err)
	}
	return hash, nil
}

func push(ctx context.Context, repo *git.Repository, cloned string, opts Options) error {
	spec := config.RefSpec(fmt.Sprintf("refs/heads/%s:refs/heads/%s", cloned, opts.PushBranch))
	err := repo.PushContext(ctx, &git.PushOptions{RemoteName: "origin", RefSpecs: []config.RefSpec{spec}, Auth: opts.Auth})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return fmt.Errorf("push to %s: %w", opts.PushBranch, err)
	}
	return nil
}

// TemplateData is what a messageTemplate sees: Flux's fields, so templates
// written for Flux work (the example in internal/examples uses
// .AutomationObject and .Updated.Images).
type TemplateData struct {
	// AutomationObject is the automation's namespace/name.
	AutomationObject types.NamespacedName
	// Updated lists the files, objects and images changed (Flux v1beta1).
	Updated UpdateResult
	// Changed lists each value changed (Flux v1beta2 and later).
	Changed ChangeResult
	// Values are spec.git.commit.messageTemplateValues.
	Values map[string]string
}

// UpdateResult is Flux's v1beta1 .Updated.
type UpdateResult struct {
	Files  map[string]bool
	Images []ImageRef
}

// ImageRef is an image in a template; {{ .String }} gives name:tag.
type ImageRef struct {
	Name, Tag string
}

func (r ImageRef) String() string { return r.Name + ":" + r.Tag }

// Repository is the image name without the tag.
func (r ImageRef) Repository() string { return r.Name }

// Identifier is the tag.
func (r ImageRef) Identifier() string { return r.Tag }

// ChangeResult is Flux's later .Changed.
type ChangeResult struct {
	Changes []Change
}

// Change is one value changed: OldValue, NewValue and the Setter marker.
type Change struct {
	OldValue, NewValue, Setter, File string
}

// defaultMessage is Flux's default commit message template.
const defaultMessage = `Update from image update automation`

func message(opts Options, applied setters.Result) (string, error) {
	tmpl := opts.MessageTemplate
	if tmpl == "" {
		tmpl = defaultMessage
	}
	t, err := template.New("message").Option("missingkey=zero").Parse(tmpl)
	if err != nil {
		return "", fmt.Errorf("spec.git.commit.messageTemplate: %w", err)
	}
	data := TemplateData{AutomationObject: opts.Automation, Values: opts.Values, Updated: UpdateResult{Files: map[string]bool{}}}
	seen := map[string]bool{}
	for _, c := range applied.Changes {
		data.Updated.Files[c.File] = true
		data.Changed.Changes = append(data.Changed.Changes, Change{OldValue: c.Old, NewValue: c.New, Setter: c.Policy, File: c.File})
		img, ok := opts.Images[policyOf(c.Policy)]
		if ok && !seen[img.String()] {
			seen[img.String()] = true
			data.Updated.Images = append(data.Updated.Images, ImageRef{Name: img.Name, Tag: img.Tag})
		}
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("spec.git.commit.messageTemplate: %w", err)
	}
	return buf.String(), nil
}

// policyOf strips a ":tag" or ":name" suffix from a marker's policy.
func policyOf(marker string) string {
	parts := strings.Split(marker, ":")
	if len(parts) > 2 {
		return parts[0] + ":" + parts[1]
	}
	return marker
}

// redact removes secrets from an error's message.
func redact(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg, changed = strings.ReplaceAll(msg, s, "[redacted]"), true
		}
	}
	if !changed {
		return err
	}
	return errors.New(msg)
}
