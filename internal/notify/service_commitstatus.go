package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"text/template"
)

const defaultContext = "ferry"

// CommitState maps triggers to commit states: on-deployed/on-sync-succeeded
// → success, on-sync-failed/on-health-degraded → failure; others send no
// commit status (empty).
func CommitState(trigger string) string {
	switch trigger {
	case TriggerDeployed, TriggerSyncSucceeded:
		return "success"
	case TriggerSyncFailed, TriggerHealthDegraded:
		return "failure"
	}
	return ""
}

// statusSpec is a `service.github` or `service.gitlab` value.
type statusSpec struct {
	Token             string `json:"token"`
	BaseURL           string `json:"baseURL"`
	EnterpriseBaseURL string `json:"enterpriseBaseURL"` // Argo CD's name for GitHub's
	Context           string `json:"context"`
	Name              string `json:"name"`
}

// statusService posts commit statuses.
type statusService struct {
	kind    string // github or gitlab
	token   string
	baseURL string
	context string
}

func parseStatus(p *parser, key, value, defaultBase string) (statusService, error) {
	var s statusSpec
	if err := unmarshal(key, value, &s); err != nil {
		return statusService{}, err
	}
	if err := p.expandAll(key, &s.Token, &s.BaseURL, &s.EnterpriseBaseURL); err != nil {
		return statusService{}, err
	}
	if s.Token == "" {
		return statusService{}, fmt.Errorf("%s: token is required (GitHub Apps are not supported)", key)
	}
	base := firstNonEmpty(s.BaseURL, s.EnterpriseBaseURL, defaultBase)
	if _, err := p.checkURL(key, "baseURL", base); err != nil {
		return statusService{}, err
	}
	p.sensitive(s.Token)
	return statusService{token: s.Token, baseURL: strings.TrimRight(base, "/"),
		context: firstNonEmpty(s.Context, s.Name, defaultContext)}, nil
}

// renderStatus renders t's commit status part for s.kind; nil when there
// is no state to send.
func (s statusService) renderStatus(t *messageTemplate, data map[string]any, ev Event, n *Notification) (*CommitStatus, error) {
	st := t.status[s.kind]
	parts := make([]string, 4)
	for i, tt := range []*template.Template{st.state, st.description, st.context, st.targetURL} {
		v, err := execute(tt, data)
		if err != nil {
			return nil, err
		}
		parts[i] = strings.TrimSpace(v)
	}
	state := firstNonEmpty(parts[0], CommitState(ev.Trigger))
	if state == "" {
		return nil, nil
	}
	repo, err := repoPath(ev.RepoURL)
	if err != nil {
		return nil, err
	}
	if !shaPattern.MatchString(ev.Revision) {
		return nil, fmt.Errorf("revision %q is not a commit SHA", ev.Revision)
	}
	return &CommitStatus{Repo: repo, Revision: ev.Revision, State: state,
		Context:     firstNonEmpty(parts[2], s.context),
		Description: firstNonEmpty(parts[1], n.Message), TargetURL: parts[3]}, nil
}

var shaPattern = regexp.MustCompile(`^[0-9a-fA-F]{7,64}$`)

// scpURL matches git's scp-like syntax: [user@]host:path.
var scpURL = regexp.MustCompile(`^(?:[^@/:]+@)?[^@/:]+:([^/].*)$`)

// repoPath extracts a repository's path from its URL: "owner/repo", or a
// GitLab project's full path with subgroups. https://host/owner/repo(.git),
// ssh://git@host/owner/repo.git and git@host:owner/repo.git are understood.
func repoPath(repoURL string) (string, error) {
	raw := strings.TrimSpace(repoURL)
	var path string
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("repoURL %q: cannot parse", displayURL(repoURL))
		}
		path = u.Path
	} else if m := scpURL.FindStringSubmatch(raw); m != nil {
		path = m[1]
	}
	path = strings.TrimSuffix(strings.Trim(path, "/"), ".git")
	segments := strings.Split(path, "/")
	if len(segments) < 2 {
		return "", fmt.Errorf("repoURL %q: no owner/repo path", displayURL(repoURL))
	}
	for _, s := range segments {
		if s == "" || s == "." || s == ".." {
			return "", fmt.Errorf("repoURL %q: no owner/repo path", displayURL(repoURL))
		}
	}
	return path, nil
}

// displayURL is raw without its password, for errors.
func displayURL(raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		return u.Redacted()
	}
	return raw
}
