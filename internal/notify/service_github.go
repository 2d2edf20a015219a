package notify

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ferrycd/ferry/internal/redact"
)

const defaultGitHub = "https://api.github.com"

// parseGitHub reads `service.github`: Ferry's token, or Argo CD's GitHub
// App (appID, installationID, privateKey), with baseURL or Argo CD's
// enterpriseBaseURL (the API root, https://ghe.example.com/api/v3).
func parseGitHub(p *parser, key, _, value string) (service, error) {
	s, err := parseStatusOptions(p, key, value, defaultGitHub)
	if err != nil {
		return nil, err
	}
	s.kind = "github"
	app, err := parseGitHubApp(p, key, value)
	if err != nil {
		return nil, err
	}
	switch {
	case app != nil && s.token != "":
		return nil, fmt.Errorf("%s: set a token or a GitHub App (appID, installationID, privateKey), not both", key)
	case app == nil && s.token == "":
		return nil, fmt.Errorf("%s: token, or a GitHub App's appID, installationID and privateKey, is required", key)
	}
	return &githubService{statusService: s, app: app}, nil
}

// githubService sets commit statuses and deployments' statuses.
type githubService struct {
	statusService
	app *githubApp // nil: token authentication
}

var githubStates = map[string]bool{"success": true, "failure": true, "error": true, "pending": true}

var githubDeploymentStates = map[string]bool{"error": true, "failure": true, "inactive": true,
	"in_progress": true, "queued": true, "pending": true, "success": true}

// githubTemplate is a template's github section: Argo CD's repoURLPath,
// revisionPath and deployment (status is read by commitStatus).
type githubTemplate struct {
	RepoURLPath  string                    `json:"repoURLPath"`
	RevisionPath string                    `json:"revisionPath"`
	State        string                    `json:"state"`
	Status       any                       `json:"status"`
	Deployment   *githubDeploymentTemplate `json:"deployment"`
}

// githubDeploymentTemplate is Argo CD's github.deployment.
type githubDeploymentTemplate struct {
	State                string    `json:"state"`
	Environment          string    `json:"environment"`
	EnvironmentURL       string    `json:"environmentURL"`
	LogURL               string    `json:"logURL"`
	RequiredContexts     *[]string `json:"requiredContexts"`
	AutoMerge            *bool     `json:"autoMerge"`
	TransientEnvironment *bool     `json:"transientEnvironment"`
	Reference            string    `json:"reference"`
}

// githubStep is one API call (with its chain) given the Authorization
// header's value, known only once an App's installation token is.
type githubStep func(auth string) outbound

func (g *githubService) requests(n Notification) ([]outbound, error) {
	steps, err := g.plan(n)
	if len(steps) == 0 || err != nil {
		return nil, err
	}
	if g.app == nil {
		out := make([]outbound, len(steps))
		for i, s := range steps {
			out[i] = s("Bearer " + g.token)
		}
		return out, nil
	}
	if tok := g.app.cached(); tok != "" {
		return []outbound{chain(steps, "token "+tok)}, nil
	}
	out, err := g.app.tokenRequest(g.baseURL)
	if err != nil {
		return nil, err
	}
	out.reply = func(body []byte) (*outbound, error) {
		tok, err := g.app.store(body)
		if err != nil {
			return nil, err
		}
		next := chain(steps, "token "+tok)
		return &next, nil
	}
	return []outbound{out}, nil
}

// plan reads n's github section: a commit status (Argo CD's github.status,
// Ferry's flat fields, or the trigger's commit state when the template
// sets none and has no deployment) and a deployment's status.
func (g *githubService) plan(n Notification) ([]githubStep, error) {
	var t githubTemplate
	if _, err := n.Section("github", &t); err != nil {
		return nil, err
	}
	// repoURLPath and revisionPath were templates: rendered, they are the
	// repository and revision to use.
	if v := rendered(t.RepoURLPath); v != "" {
		n.RepoURL = v
	}
	if v := rendered(t.RevisionPath); v != "" {
		n.Revision = v
	}
	var steps []githubStep
	if t.Deployment == nil || t.Status != nil || strings.TrimSpace(t.State) != "" {
		s, err := g.statusStep(n)
		if err != nil {
			return nil, err
		}
		if s != nil {
			steps = append(steps, s)
		}
	}
	if t.Deployment != nil {
		s, err := g.deploymentStep(n, *t.Deployment)
		if err != nil {
			return nil, err
		}
		steps = append(steps, s)
	}
	return steps, nil
}

// rendered is a rendered template field; a missing value is empty.
func rendered(v string) string {
	v = strings.TrimSpace(v)
	if v == "<no value>" {
		return ""
	}
	return v
}

// statusStep sets a commit status; nil when there is no state to send.
func (g *githubService) statusStep(n Notification) (githubStep, error) {
	cs, err := g.commitStatus(n)
	if cs == nil || err != nil {
		return nil, err
	}
	if !githubStates[cs.State] {
		return nil, fmt.Errorf("GitHub commit state %q is not success, failure, error or pending", cs.State)
	}
	owner, repo, err := githubRepo(cs.Repo, n.RepoURL)
	if err != nil {
		return nil, err
	}
	cs.Description = redact.Line(cs.Description, 140)
	body, err := toJSON(struct {
		State       string `json:"state"`
		TargetURL   string `json:"target_url,omitempty"`
		Description string `json:"description"`
		Context     string `json:"context"`
	}{cs.State, cs.TargetURL, cs.Description, cs.Context})
	if err != nil {
		return nil, err
	}
	path := fmt.Sprintf("/repos/%s/%s/statuses/%s", url.PathEscape(owner), url.PathEscape(repo), url.PathEscape(cs.Revision))
	return func(auth string) outbound { return g.api(auth, http.MethodPost, path, body) }, nil
}

// deploymentStep sets a deployment's status as Argo CD's engine does: the
// newest deployment of the revision to the environment, else a new one of
// the reference (default: the revision).
func (g *githubService) deploymentStep(n Notification, d githubDeploymentTemplate) (githubStep, error) {
	state := firstNonEmpty(strings.TrimSpace(d.State), CommitState(n.Trigger))
	if !githubDeploymentStates[state] {
		return nil, fmt.Errorf("GitHub deployment state %q is not success, failure, error, inactive, in_progress, queued or pending", state)
	}
	path, err := repoPath(n.RepoURL)
	if err != nil {
		return nil, err
	}
	owner, repo, err := githubRepo(path, n.RepoURL)
	if err != nil {
		return nil, err
	}
	if n.Revision == "" {
		return nil, fmt.Errorf("GitHub deployment: no revision")
	}
	env := firstNonEmpty(strings.TrimSpace(d.Environment), "production") // GitHub's default
	yes, no := true, false
	if d.AutoMerge == nil {
		d.AutoMerge = &yes // the engine's default
	}
	if d.TransientEnvironment == nil {
		d.TransientEnvironment = &no
	}
	create, err := toJSON(struct {
		Ref                  string    `json:"ref"`
		Environment          string    `json:"environment"`
		RequiredContexts     *[]string `json:"required_contexts,omitempty"`
		AutoMerge            *bool     `json:"auto_merge"`
		TransientEnvironment *bool     `json:"transient_environment"`
	}{firstNonEmpty(strings.TrimSpace(d.Reference), n.Revision), env, d.RequiredContexts, d.AutoMerge, d.TransientEnvironment})
	if err != nil {
		return nil, err
	}
	status, err := toJSON(struct {
		State          string `json:"state"`
		LogURL         string `json:"log_url,omitempty"`
		Description    string `json:"description,omitempty"`
		Environment    string `json:"environment"`
		EnvironmentURL string `json:"environment_url,omitempty"`
	}{state, strings.TrimSpace(d.LogURL), redact.Line(n.Message, 140), env, strings.TrimSpace(d.EnvironmentURL)})
	if err != nil {
		return nil, err
	}
	deployments := fmt.Sprintf("/repos/%s/%s/deployments", url.PathEscape(owner), url.PathEscape(repo))
	q := url.Values{"ref": {n.Revision}, "environment": {env}}
	return func(auth string) outbound {
		setStatus := func(id int64) *outbound {
			out := g.api(auth, http.MethodPost, fmt.Sprintf("%s/%d/statuses", deployments, id), status)
			return &out
		}
		list := g.api(auth, http.MethodGet, deployments+"?"+q.Encode(), "")
		list.reply = func(body []byte) (*outbound, error) {
			var found []struct {
				ID int64 `json:"id"`
			}
			if err := json.Unmarshal(body, &found); err != nil {
				return nil, fmt.Errorf("GitHub deployments: unreadable reply: %s", snippetOf(body))
			}
			if len(found) > 0 && found[0].ID != 0 {
				return setStatus(found[0].ID), nil
			}
			out := g.api(auth, http.MethodPost, deployments, create)
			out.reply = func(body []byte) (*outbound, error) {
				var created struct {
					ID      int64  `json:"id"`
					Message string `json:"message"`
				}
				if err := json.Unmarshal(body, &created); err != nil || created.ID == 0 {
					// 202: GitHub merged the default branch into the ref instead
					return nil, fmt.Errorf("GitHub created no deployment: %s", firstNonEmpty(created.Message, snippetOf(body)))
				}
				return setStatus(created.ID), nil
			}
			return &out, nil
		}
		return list
	}, nil
}

// api is a call to the API's path with the Authorization header auth and
// body (none when empty).
func (g *githubService) api(auth, method, path, body string) outbound {
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	h.Set("Authorization", auth)
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	_, token, _ := strings.Cut(auth, " ")
	out := outbound{method: method, url: g.baseURL + path, header: h, secrets: []string{token}}
	if body != "" {
		h.Set("Content-Type", "application/json")
		out.body = []byte(body)
	}
	return out
}

// chain is steps made one after the other: when a step's chain of replies
// ends, the next step starts.
func chain(steps []githubStep, auth string) outbound {
	return then(steps[0](auth), steps[1:], auth)
}

func then(out outbound, rest []githubStep, auth string) outbound {
	if len(rest) == 0 {
		return out
	}
	reply := out.reply
	out.reply = func(body []byte) (*outbound, error) {
		if reply != nil {
			next, err := reply(body)
			if err != nil {
				return nil, err
			}
			if next != nil {
				n := then(*next, rest, auth)
				return &n, nil
			}
		}
		n := chain(rest, auth)
		return &n, nil
	}
	return out
}

// githubRepo splits "owner/repo"; errors name repoURL.
func githubRepo(path, repoURL string) (owner, repo string, err error) {
	owner, repo, ok := strings.Cut(path, "/")
	if !ok || strings.Contains(repo, "/") {
		return "", "", fmt.Errorf("repoURL %q: GitHub needs an owner/repo path", displayURL(repoURL))
	}
	return owner, repo, nil
}
