package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/ferrycd/ferry/internal/redact"
)

const defaultGitLab = "https://gitlab.com"

func parseGitLab(p *parser, key, _, value string) (service, error) {
	s, err := parseStatus(p, key, value, defaultGitLab)
	if err != nil {
		return nil, err
	}
	s.kind = "gitlab"
	return &gitlabService{s}, nil
}

type gitlabService struct{ statusService }

// gitlabStates maps commit states (GitHub's and GitLab's own) to GitLab's.
var gitlabStates = map[string]string{
	"success": "success", "failure": "failed", "error": "failed", "failed": "failed",
	"pending": "pending", "running": "running", "canceled": "canceled",
}

func (g *gitlabService) render(t *messageTemplate, data map[string]any, ev Event, n *Notification) (bool, error) {
	cs, err := g.renderStatus(t, data, ev, n)
	if cs == nil || err != nil {
		return false, err
	}
	state, ok := gitlabStates[cs.State]
	if !ok {
		return false, fmt.Errorf("GitLab commit state %q is not success, failed, running, pending or canceled", cs.State)
	}
	cs.State = state
	cs.Description = redact.Line(cs.Description, 255)
	n.Status = cs
	return true, nil
}

func (g *gitlabService) request(n Notification) (outbound, error) {
	cs := n.Status
	if cs == nil {
		return outbound{}, errors.New("notification was not rendered for a commit status")
	}
	q := url.Values{}
	q.Set("state", cs.State)
	q.Set("name", cs.Context)
	q.Set("description", cs.Description)
	if cs.TargetURL != "" {
		q.Set("target_url", cs.TargetURL)
	}
	u := fmt.Sprintf("%s/api/v4/projects/%s/statuses/%s?%s", g.baseURL,
		url.PathEscape(cs.Repo), url.PathEscape(cs.Revision), q.Encode())
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("PRIVATE-TOKEN", g.token)
	return outbound{method: http.MethodPost, url: u, header: h}, nil
}
