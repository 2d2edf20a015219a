package notify

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/ferrycd/ferry/internal/redact"
)

const defaultGitHub = "https://api.github.com"

func parseGitHub(p *parser, key, _, value string) (service, error) {
	s, err := parseStatus(p, key, value, defaultGitHub)
	if err != nil {
		return nil, err
	}
	s.kind = "github"
	return &githubService{s}, nil
}

type githubService struct{ statusService }

var githubStates = map[string]bool{"success": true, "failure": true, "error": true, "pending": true}

func (g *githubService) render(t *messageTemplate, data map[string]any, ev Event, n *Notification) (bool, error) {
	cs, err := g.renderStatus(t, data, ev, n)
	if cs == nil || err != nil {
		return false, err
	}
	if !githubStates[cs.State] {
		return false, fmt.Errorf("GitHub commit state %q is not success, failure, error or pending", cs.State)
	}
	if _, _, err := githubRepo(cs.Repo, ev.RepoURL); err != nil {
		return false, err
	}
	cs.Description = redact.Line(cs.Description, 140)
	n.Status = cs
	return true, nil
}

func (g *githubService) request(n Notification) (outbound, error) {
	cs := n.Status
	if cs == nil {
		return outbound{}, errors.New("notification was not rendered for a commit status")
	}
	owner, repo, err := githubRepo(cs.Repo, cs.Repo)
	if err != nil {
		return outbound{}, err
	}
	body, err := toJSON(struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url,omitempty"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}{cs.State, cs.TargetURL, cs.Description, cs.Context})
	if err != nil {
		return outbound{}, err
	}
	out := jsonPost(fmt.Sprintf("%s/repos/%s/%s/statuses/%s", g.baseURL,
		url.PathEscape(owner), url.PathEscape(repo), url.PathEscape(cs.Revision)), []byte(body))
	out.header.Set("Authorization", "Bearer "+g.token)
	out.header.Set("Accept", "application/vnd.github+json")
	out.header.Set("X-GitHub-Api-Version", "2022-11-28")
	return out, nil
}

// githubRepo splits "owner/repo"; errors name repoURL.
func githubRepo(path, repoURL string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(path, "/")
	if !ok || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("repoURL %q: GitHub needs an owner/repo path", displayURL(repoURL))
	}
	return owner, repo, nil
}
