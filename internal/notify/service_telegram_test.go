package notify

import (
	"encoding/json"
	"strings"
	"testing"
)

const telegramToken = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

func telegramConfig(t *testing.T, base string) *Config {
	t.Helper()
	return mustParse(t, map[string]string{
		"service.telegram": "token: $telegram-token\napiURL: " + base,
	}, map[string][]byte{"telegram-token": []byte(telegramToken)})
}

func TestSendTelegram(t *testing.T) {
	tests := []struct {
		recipient string
		chatID    any // as JSON decodes it
		thread    float64
	}{
		{"-1000000000000", float64(-1000000000000), 0},
		{"-1000000000000|2", float64(-1000000000000), 2},
		{"username", "@username", 0},
		{"@username", "@username", 0},
		{"42", float64(42), 0},
	}
	for _, tt := range tests {
		r, base := serve(t)
		r.reply = `{"ok":true,"result":{"message_id":7}}`
		c := telegramConfig(t, base)
		if err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "telegram", Recipient: tt.recipient}); err != nil {
			t.Fatalf("%s: %v", tt.recipient, err)
		}
		g := only(t, r)
		if g.method != "POST" || g.uri != "/bot"+telegramToken+"/sendMessage" {
			t.Errorf("%s: request %s %s", tt.recipient, g.method, g.uri)
		}
		var b map[string]any
		if err := json.Unmarshal([]byte(g.body), &b); err != nil {
			t.Fatalf("body %s: %v", g.body, err)
		}
		thread, _ := b["message_thread_id"].(float64)
		if b["chat_id"] != tt.chatID || thread != tt.thread || b["parse_mode"] != "Markdown" ||
			b["text"] != "Application guestbook sync failed at 0123456: apply failed" {
			t.Errorf("%s: body %s", tt.recipient, g.body)
		}
	}
}

func TestSendTelegramBadRecipient(t *testing.T) {
	r, base := serve(t)
	c := telegramConfig(t, base)
	for _, rcpt := range []string{"-100x", "-100|two", ""} {
		err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "telegram", Recipient: rcpt})
		if err == nil || strings.Contains(err.Error(), telegramToken) {
			t.Errorf("%q: %v", rcpt, err)
		}
	}
	if n := len(r.requests()); n != 0 {
		t.Errorf("%d requests", n)
	}
}

// The token is in the URL's path: no error shows it, even when the
// receiver echoes the path.
func TestSendTelegramErrorHidesToken(t *testing.T) {
	r, base := serve(t, 401)
	r.reply = `{"ok":false,"error_code":401,"description":"Unauthorized: /bot` + telegramToken + `/sendMessage"}`
	c := telegramConfig(t, base)
	err := deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "telegram", Recipient: "-1001234567890"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v, want a 401", err)
	}
	for _, part := range strings.Split(telegramToken, ":") {
		if strings.Contains(err.Error(), part) {
			t.Errorf("error %q shows the token", err)
		}
	}
	if !strings.Contains(err.Error(), "/bot***/sendMessage") {
		t.Errorf("error %q does not show the (redacted) reply", err)
	}
	// A token written in the ConfigMap (not a $secret reference) too.
	c = mustParse(t, map[string]string{"service.telegram": "token: " + telegramToken + "\napiURL: " + base}, nil)
	r.statuses = []int{401}
	err = deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "telegram", Recipient: "-1001234567890"})
	if err == nil || strings.Contains(err.Error(), telegramToken) {
		t.Errorf("literal token: %v", err)
	}
	// 200 with ok false is a failure too.
	r.statuses = nil
	r.reply = `{"ok":false,"description":"Bad Request: chat not found"}`
	err = deliver(t, c, testEvent(TriggerSyncFailed), Destination{Service: "telegram", Recipient: "nobody"})
	if err == nil || !strings.Contains(err.Error(), "chat not found") {
		t.Errorf("ok false: %v", err)
	}
}

func TestParseTelegram(t *testing.T) {
	c := mustParse(t, map[string]string{"service.telegram": "token: $tg"}, map[string][]byte{"tg": []byte("1:abc")})
	if s := c.services["telegram"].(*telegramService); s.apiURL != defaultTelegramAPI || s.token != "1:abc" {
		t.Errorf("service %+v", s)
	}
	if _, err := Parse(map[string]string{"service.telegram": "apiURL: https://tg.example.com"}, nil); err == nil ||
		!strings.Contains(err.Error(), "service.telegram: token is required") {
		t.Errorf("no token: %v", err)
	}
}
