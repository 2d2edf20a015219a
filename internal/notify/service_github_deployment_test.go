package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

// githubDocsTemplate is Argo CD's documented template.app-deployed
// (docs/services/github.md) without pullRequestComment and checkRun.
const githubDocsTemplate = `
message: |
  Application {{.app.metadata.name}} is now running new version of deployments manifests.
github:
  repoURLPath: "{{.app.spec.source.repoURL}}"
  revisionPath: "{{.app.status.operationState.syncResult.revision}}"
  status:
    state: success
    label: "continuous-delivery/{{.app.metadata.name}}"
    targetURL: "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true"
  deployment:
    state: success
    environment: production
    environmentURL: "https://{{.app.metadata.name}}.example.com"
    logURL: "{{.context.argocdUrl}}/applications/{{.app.metadata.name}}?operation=true"
    requiredContexts: []
    autoMerge: true
    transientEnvironment: false
    reference: v1.0.0
`

const githubRev = "89abcdef0123456789abcdef0123456789abcdef"

// githubEvent is an on-deployed event whose Application's source and
// operation revision (what repoURLPath and revisionPath read) differ from
// the event's.
func githubEvent() Event {
	ev := testEvent(TriggerDeployed)
	ev.RepoURL = "https://github.com/elsewhere/unused.git"
	ev.App["spec"].(map[string]any)["source"] = map[string]any{"repoURL": "git@github.com:acme/guestbook.git"}
	ev.App["status"] = map[string]any{"operationState": map[string]any{"syncResult": map[string]any{"revision": githubRev}}}
	return ev
}

func githubConfig(t *testing.T, base string, template string) *Config {
	t.Helper()
	return mustParse(t, map[string]string{
		"service.github":        "token: $gh\nbaseURL: " + base + "/api/v3",
		"context":               "argocdUrl: https://argocd.example.com",
		"template.app-deployed": template,
	}, map[string][]byte{"gh": []byte("ghp_secret")})
}

func decodeJSON(t *testing.T, body string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	return m
}

// want checks the fields of a JSON body.
func wantFields(t *testing.T, what string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, _ := json.Marshal(got[k])
		ww, _ := json.Marshal(w)
		if string(g) != string(ww) {
			t.Errorf("%s: %s = %s, want %s", what, k, g, ww)
		}
	}
}

func TestSendGitHubDeployment(t *testing.T) {
	r, base := serve(t)
	repo := "/api/v3/repos/acme/guestbook"
	r.replies = map[string]string{
		"GET " + repo + "/deployments":  `[]`,
		"POST " + repo + "/deployments": `{"id": 42, "ref": "v1.0.0"}`,
	}
	r.reply = `{}`
	c := githubConfig(t, base, githubDocsTemplate)
	if err := deliver(t, c, githubEvent(), Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	want := []string{
		"POST " + repo + "/statuses/" + githubRev,
		"GET " + repo + "/deployments?environment=production&ref=" + githubRev,
		"POST " + repo + "/deployments",
		"POST " + repo + "/deployments/42/statuses",
	}
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests, want %d: %v", len(reqs), len(want), reqs)
	}
	for i, w := range want {
		if got := reqs[i].method + " " + reqs[i].uri; got != w {
			t.Errorf("request %d = %s, want %s", i, got, w)
		}
		if a := reqs[i].header.Get("Authorization"); a != "Bearer ghp_secret" {
			t.Errorf("request %d: Authorization %q", i, a)
		}
	}
	wantFields(t, "status", decodeJSON(t, reqs[0].body), map[string]any{
		"state": "success", "context": "continuous-delivery/guestbook",
		"target_url": "https://argocd.example.com/applications/guestbook?operation=true",
	})
	wantFields(t, "deployment", decodeJSON(t, reqs[2].body), map[string]any{
		"ref": "v1.0.0", "environment": "production", "required_contexts": []string{},
		"auto_merge": true, "transient_environment": false,
	})
	wantFields(t, "deployment status", decodeJSON(t, reqs[3].body), map[string]any{
		"state": "success", "environment": "production",
		"environment_url": "https://guestbook.example.com",
		"log_url":         "https://argocd.example.com/applications/guestbook?operation=true",
		"description":     "Application guestbook is now running new version of deployments manifests.",
	})
}

// An existing deployment of the revision gets the status; a template with
// a deployment and no status sets no commit status; the defaults are the
// engine's (auto_merge true, transient_environment false).
func TestSendGitHubExistingDeployment(t *testing.T) {
	r, base := serve(t)
	repo := "/api/v3/repos/acme/guestbook"
	r.replies = map[string]string{"GET " + repo + "/deployments": `[{"id": 7}, {"id": 3}]`}
	r.reply = `{}`
	c := githubConfig(t, base, `
message: deployed
github:
  deployment:
    state: "{{if eq .app.metadata.name \"guestbook\"}}in_progress{{end}}"
    environment: staging
`)
	ev := testEvent(TriggerDeployed) // no repoURLPath, revisionPath: the event's
	ev.RepoURL, ev.Revision = "https://github.com/acme/guestbook", githubRev
	if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	if len(reqs) != 2 || reqs[0].uri != repo+"/deployments?environment=staging&ref="+githubRev ||
		reqs[1].method != "POST" || reqs[1].uri != repo+"/deployments/7/statuses" {
		t.Fatalf("requests %v", reqs)
	}
	wantFields(t, "deployment status", decodeJSON(t, reqs[1].body), map[string]any{
		"state": "in_progress", "environment": "staging", "description": "deployed",
	})
	// No deployment yet: created with the defaults; 202 (GitHub merged
	// instead) is an error.
	r.replies = map[string]string{"GET " + repo + "/deployments": `[]`,
		"POST " + repo + "/deployments": `{"message": "Auto-merged main into topic-branch on deployment."}`}
	r.statuses = []int{200, 202}
	err := deliver(t, c, ev, Destination{Service: "github"})
	if err == nil || !strings.Contains(err.Error(), "Auto-merged main") {
		t.Errorf("202: %v", err)
	}
	reqs = r.requests()[2:]
	if len(reqs) != 2 {
		t.Fatalf("requests %v", reqs)
	}
	want := `{"ref":"` + githubRev + `","environment":"staging","auto_merge":true,"transient_environment":false}`
	if reqs[1].body != want {
		t.Errorf("deployment %s, want %s", reqs[1].body, want)
	}
}

func TestSendGitHubDeploymentBadState(t *testing.T) {
	r, base := serve(t)
	c := githubConfig(t, base, "message: x\ngithub:\n  deployment:\n    state: done\n")
	if err := deliver(t, c, githubEvent(), Destination{Service: "github"}); err == nil || !strings.Contains(err.Error(), `"done"`) {
		t.Errorf("error %v", err)
	}
	if n := len(r.requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}
