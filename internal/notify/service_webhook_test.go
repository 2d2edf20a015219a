package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

func TestSendWebhook(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.webhook.deploys": `
url: ` + base + `/hooks?token=$token
hmacSecret: $hmac
headers:
- name: Authorization
  value: Bearer $token
- name: Content-Type
  value: application/vnd.ferry+json
`,
		"trigger.on-deployed": "- send: [deployed]",
		"template.deployed": `
webhook:
  deploys:
    method: PUT
    path: /{{.app.metadata.name}}
    body: |
      {"app":"{{.app.metadata.name}}","rev":"{{short .revision}}"}
`,
	}, map[string][]byte{"token": []byte("tok-123"), "hmac": []byte("hmac-key")})
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "deploys"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	wantBody := `{"app":"guestbook","rev":"0123456"}` + "\n"
	if got.method != "PUT" || got.uri != "/hooks/guestbook?token=tok-123" || got.body != wantBody {
		t.Errorf("got %s %s %q", got.method, got.uri, got.body)
	}
	if a := got.header.Get("Authorization"); a != "Bearer tok-123" {
		t.Errorf("Authorization = %q", a)
	}
	if ct := got.header.Values("Content-Type"); len(ct) != 1 || ct[0] != "application/vnd.ferry+json" {
		t.Errorf("Content-Type = %q", ct)
	}
	mac := hmac.New(sha256.New, []byte("hmac-key"))
	mac.Write([]byte(got.body))
	if sig := got.header.Get(SignatureHeader); sig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signature %q does not verify", sig)
	}
}

func TestSendWebhookDefaults(t *testing.T) {
	r, base := serve(t)
	c := mustParse(t, map[string]string{
		"service.webhook.h": "url: " + base + "/in\nbasicAuth: {username: u, password: $pw}",
	}, map[string][]byte{"pw": []byte("p")})
	if err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "h"}); err != nil {
		t.Fatal(err)
	}
	got := only(t, r)
	want := `{"trigger":"on-sync-failed","application":"guestbook","namespace":"ferry","revision":"` + sha +
		`","message":"Application guestbook sync failed at 0123456: apply failed"}`
	if got.method != "POST" || got.uri != "/in" || got.body != want {
		t.Errorf("got %s %s %s", got.method, got.uri, got.body)
	}
	if got.header.Get("Content-Type") != "application/json" || got.header.Get(SignatureHeader) != "" ||
		got.header.Get("Authorization") != "Basic dTpw" {
		t.Errorf("headers %v", got.header)
	}
}
