package notify

import (
	"testing"
)

func TestSendSlack(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.slack":      "url: $slack-url",
		"service.slack.team": "url: " + base + "/team",
	}, map[string][]byte{"slack-url": []byte(base + "/services/T0/B0/XYZ")})
	ev := testEvent(TriggerSyncFailed)
	ev.Message = `<b> & "q"`
	if err := deliver(t, c, ev, Destination{Service: "slack", Recipient: "#ops"}); err != nil {
		t.Fatal(err)
	}
	if err := deliver(t, c, ev, Destination{Service: "team"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	text := `Application guestbook sync failed at 0123456: <b> & \"q\"`
	want := []received{
		{method: "POST", uri: "/services/T0/B0/XYZ", body: `{"channel":"#ops","text":"` + text + `"}`},
		{method: "POST", uri: "/team", body: `{"text":"` + text + `"}`},
	}
	if len(reqs) != 2 {
		t.Fatalf("got %d requests", len(reqs))
	}
	for i, w := range want {
		g := reqs[i]
		if g.method != w.method || g.uri != w.uri || g.body != w.body || g.header.Get("Content-Type") != "application/json" {
			t.Errorf("request %d = %s %s %s, want %s %s %s", i, g.method, g.uri, g.body, w.method, w.uri, w.body)
		}
	}
}
