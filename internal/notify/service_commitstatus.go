package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
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
	s, err := parseStatusOptions(p, key, value, defaultBase)
	if err == nil && s.token == "" {
		err = fmt.Errorf("%s: token is required", key)
	}
	return s, err
}

// parseStatusOptions is parseStatus with the token optional (GitHub has
// App authentication too).
func parseStatusOptions(p *parser, key, value, defaultBase string) (statusService, error) {
	var s statusSpec
	if err := unmarshal(key, value, &s); err != nil {
		return statusService{}, err
	}
	if err := p.expandAll(key, &s.Token, &s.BaseURL, &s.EnterpriseBaseURL); err != nil {
		return statusService{}, err
	}
	base := firstNonEmpty(s.BaseURL, s.EnterpriseBaseURL, defaultBase)
	if _, err := p.checkURL(key, "baseURL", base); err != nil {
		return statusService{}, err
	}
	p.sensitive(s.Token)
	return statusService{token: s.Token, baseURL: strings.TrimRight(base, "/"),
		context: firstNonEmpty(s.Context, s.Name, defaultContext)}, nil
}

// statusTemplate is a template's commit status section: Ferry's flat
// fields, or Argo CD's `status: {state, label, targetURL}`.
type statusTemplate struct {
	State       string `json:"state"`
	Description string `json:"description"`
	Context     string `json:"context"`
	Name        string `json:"name"`
	TargetURL   string `json:"targetURL"`
	Status      *struct {
		State     string `json:"state"`
		Label     string `json:"label"`
		TargetURL string `json:"targetURL"`
	} `json:"status"`
}

// CommitStatus is a commit status to set. Repo is "owner/repo" for GitHub
// and the project's full path for GitLab; State is in the service's own
// vocabulary.
type CommitStatus struct {
	Repo        string
	Revision    string
	State       string
	Context     string
	Description string
	TargetURL   string
}

// commitStatus reads n's section s.kind; nil when there is no state to
// send (the template sets none and the trigger has no commit state).
func (s statusService) commitStatus(n Notification) (*CommitStatus, error) {
	var t statusTemplate
	if _, err := n.Section(s.kind, &t); err != nil {
		return nil, err
	}
	if a := t.Status; a != nil {
		t.State = firstNonEmpty(t.State, a.State)
		t.Context = firstNonEmpty(t.Context, a.Label)
		t.TargetURL = firstNonEmpty(t.TargetURL, a.TargetURL)
	}
	state := firstNonEmpty(strings.TrimSpace(t.State), CommitState(n.Trigger))
	if state == "" {
		return nil, nil
	}
	repo, err := repoPath(n.RepoURL)
	if err != nil {
		return nil, err
	}
	if !shaPattern.MatchString(n.Revision) {
		return nil, fmt.Errorf("revision %q is not a commit SHA", n.Revision)
	}
	return &CommitStatus{Repo: repo, Revision: n.Revision, State: state,
		Context:     firstNonEmpty(strings.TrimSpace(firstNonEmpty(t.Context, t.Name)), s.context),
		Description: firstNonEmpty(strings.TrimSpace(t.Description), n.Message), TargetURL: strings.TrimSpace(t.TargetURL)}, nil
}

func firstNonEmpty(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
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
