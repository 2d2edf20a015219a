package notify

import (
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

func (g *gitlabService) requests(n Notification) ([]outbound, error) {
	cs, err := g.commitStatus(n)
	if cs == nil || err != nil {
		return nil, err
	}
	state, ok := gitlabStates[cs.State]
	if !ok {
		return nil, fmt.Errorf("GitLab commit state %q is not success, failed, running, pending or canceled", cs.State)
	}
	q := url.Values{}
	q.Set("state", state)
	q.Set("name", cs.Context)
	q.Set("description", redact.Line(cs.Description, 255))
	if cs.TargetURL != "" {
		q.Set("target_url", cs.TargetURL)
	}
	u := fmt.Sprintf("%s/api/v4/projects/%s/statuses/%s?%s", g.baseURL,
		url.PathEscape(cs.Repo), url.PathEscape(cs.Revision), q.Encode())
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("PRIVATE-TOKEN", g.token)
	return []outbound{{method: http.MethodPost, url: u, header: h}}, nil
}
