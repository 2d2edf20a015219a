package notify

import (
	"strings"
	"testing"
)

func TestSendGitHubStatus(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.github": "token: $gh\nbaseURL: " + base + "/api/v3/",
		"template.app-deployed": `
message: deployed
github:
  status:
    label: "ferry/{{.app.metadata.name}}"
    targetURL: "https://ferry.example.com/apps/{{.app.metadata.name}}"
`,
	}, map[string][]byte{"gh": []byte("ghp_secret")})
	ev := testEvent(TriggerDeployed)
	ev.RepoURL = "git@github.com:acme/guestbook.git"
	if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	ev = testEvent(TriggerSyncFailed)
	ev.Message = strings.Repeat("x", 200)
	if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d requests", len(reqs))
	}
	for _, g := range reqs {
		if g.method != "POST" || g.uri != "/api/v3/repos/acme/guestbook/statuses/"+sha {
			t.Errorf("request %s %s", g.method, g.uri)
		}
		if g.header.Get("Authorization") != "Bearer ghp_secret" || g.header.Get("Accept") != "application/vnd.github+json" {
			t.Errorf("headers %v", g.header)
		}
	}
	want0 := `{"state":"success","target_url":"https://ferry.example.com/apps/guestbook","description":"deployed","context":"ferry/guestbook"}`
	if reqs[0].body != want0 {
		t.Errorf("body = %s, want %s", reqs[0].body, want0)
	}
	desc := "Application guestbook sync failed at 0123456: " + strings.Repeat("x", 139-46) + "…"
	want1 := `{"state":"failure","description":"` + desc + `","context":"ferry"}`
	if reqs[1].body != want1 {
		t.Errorf("body = %s, want %s", reqs[1].body, want1)
	}
}
