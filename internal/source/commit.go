package source

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// CommitInfo describes a commit, for an application's history and the CLI.
type CommitInfo struct {
	// SHA is the full commit SHA.
	SHA string
	// Message is the full commit message.
	Message string
	// Author is the author as git prints it: "Name <email>".
	Author string
	// Time is the author time.
	Time time.Time
}

// CommitInfo returns the message, author and time of commit sha (a full SHA,
// as returned by Resolve). A commit the cache lacks is fetched as Resolve
// would.
func (c *Cache) CommitInfo(ctx context.Context, repoURL, sha string) (CommitInfo, error) {
	r, err := c.repo(ctx, repoURL)
	if err != nil {
		return CommitInfo{}, err
	}
	sha = strings.ToLower(strings.TrimSpace(sha))
	if len(sha) != hexSHALen || !isHex(sha) {
		return CommitInfo{}, fmt.Errorf("commit info of %s: %q is not a full commit SHA", r.key, sha)
	}
	h, err := r.ensureCommit(ctx, plumbing.NewHash(sha), time.Time{})
	if err != nil {
		return CommitInfo{}, fmt.Errorf("commit info of %s at %s: %w", r.key, sha, err)
	}
	var info CommitInfo
	err = r.withStore(func() error {
		commit, err := object.GetCommit(r.git.Storer, h)
		if err != nil {
			return err
		}
		info = CommitInfo{
			SHA:     commit.Hash.String(),
			Message: commit.Message,
			Author:  fmt.Sprintf("%s <%s>", commit.Author.Name, commit.Author.Email),
			Time:    commit.Author.When,
		}
		return nil
	})
	if err != nil {
		return CommitInfo{}, fmt.Errorf("commit info of %s at %s: %w", r.key, sha, err)
	}
	return info, nil
}
