package notify

import (
	"testing"
)

func TestSendGitLabStatus(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.gitlab": "token: glpat\nbaseURL: " + base + "\nname: cd",
	}, nil)
	ev := testEvent(TriggerSyncFailed)
	ev.RepoURL = "ssh://git@gitlab.example.com/group/sub/repo.git"
	if err := deliver(t, c, ev, Destination{Service: "gitlab"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	want := "/api/v4/projects/group%2Fsub%2Frepo/statuses/" + sha +
		"?description=Application+guestbook+sync+failed+at+0123456%3A+apply+failed&name=cd&state=failed"
	if got.method != "POST" || got.uri != want || got.body != "" || got.header.Get("PRIVATE-TOKEN") != "glpat" {
		t.Errorf("got %s %s %q %v", got.method, got.uri, got.body, got.header)
	}
}
