package notify

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

// testRSAKey is a GitHub App's private key, PEM (PKCS #1, as GitHub hands
// them out).
func testRSAKey(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
}

// checkAppJWT verifies a "Bearer <jwt>" header: RS256 signed by key,
// issued by appID around now, valid for at most 10 minutes.
func checkAppJWT(t *testing.T, auth string, key *rsa.PublicKey, appID string, now time.Time) {
	t.Helper()
	jwt, ok := strings.CutPrefix(auth, "Bearer ")
	parts := strings.Split(jwt, ".")
	if !ok || len(parts) != 3 {
		t.Fatalf("Authorization %q is not a Bearer JWT", auth)
	}
	dec := func(s string) []byte {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("JWT part %q: %v", s, err)
		}
		return b
	}
	var header struct{ Alg, Typ string }
	if err := json.Unmarshal(dec(parts[0]), &header); err != nil || header.Alg != "RS256" {
		t.Errorf("JWT header %s (%v)", dec(parts[0]), err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], dec(parts[2])); err != nil {
		t.Errorf("JWT signature: %v", err)
	}
	var claims struct {
		Iss      string
		Iat, Exp int64
	}
	if err := json.Unmarshal(dec(parts[1]), &claims); err != nil {
		t.Fatalf("JWT claims %s: %v", dec(parts[1]), err)
	}
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iss != appID || iat.After(now) || iat.Before(now.Add(-2*time.Minute)) ||
		!exp.After(now) || exp.Sub(iat) > 10*time.Minute {
		t.Errorf("JWT claims %s (now %d)", dec(parts[1]), now.Unix())
	}
}

func TestSendGitHubApp(t *testing.T) {
	key, keyPEM := testRSAKey(t)
	r, base := serve(t)
	now := time.Now()
	expires := now.Add(time.Hour).UTC().Format(time.RFC3339)
	tokens := "/api/v3/app/installations/67890/access_tokens"
	r.replies = map[string]string{"POST " + tokens: `{"token":"ghs_installation","expires_at":"` + expires + `"}`}
	r.reply = `{}`
	// docs/services/github.md, with a GitHub Enterprise API root
	c := mustParse(t, map[string]string{
		"service.github": "appID: 12345\ninstallationID: \"67890\"\nprivateKey: $github-privateKey\nenterpriseBaseURL: " + base + "/api/v3",
	}, map[string][]byte{"github-privateKey": []byte(keyPEM)})
	ev := testEvent(TriggerDeployed)
	for range 2 {
		if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
			t.Fatal(err)
		}
	}
	reqs := r.requests()
	status := "POST /api/v3/repos/acme/guestbook/statuses/" + sha
	want := []string{"POST " + tokens, status, status} // the token is kept
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests, want %d: %v", len(reqs), len(want), reqs)
	}
	for i, w := range want {
		if got := reqs[i].method + " " + reqs[i].uri; got != w {
			t.Errorf("request %d = %s, want %s", i, got, w)
		}
	}
	checkAppJWT(t, reqs[0].header.Get("Authorization"), &key.PublicKey, "12345", now)
	for _, g := range reqs[1:] {
		if a := g.header.Get("Authorization"); a != "token ghs_installation" {
			t.Errorf("API call with Authorization %q", a)
		}
	}
	wantFields(t, "status", decodeJSON(t, reqs[1].body), map[string]any{"state": "success", "context": "ferry"})

	// Less than a minute left: a new token first.
	app := c.services["github"].(*githubService).app
	app.now = func() time.Time { return now.Add(time.Hour - 30*time.Second) }
	if err := deliver(t, c, ev, Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	reqs = r.requests()[3:]
	if len(reqs) != 2 || reqs[0].uri != tokens || reqs[1].method+" "+reqs[1].uri != status {
		t.Fatalf("after expiry: %v", reqs)
	}
	checkAppJWT(t, reqs[0].header.Get("Authorization"), &key.PublicKey, "12345", app.now())
}

// The installation token serves every call of the chain: a commit status,
// then the deployment's list, creation and status.
func TestSendGitHubAppDeployment(t *testing.T) {
	key, _ := testRSAKey(t)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))
	r, base := serve(t)
	repo := "/repos/acme/guestbook"
	r.replies = map[string]string{
		"POST /app/installations/9/access_tokens": `{"token":"ghs_chain","expires_at":"2099-01-01T00:00:00Z"}`,
		"GET " + repo + "/deployments":            `[]`,
		"POST " + repo + "/deployments":           `{"id": 5}`,
	}
	r.reply = `{}`
	c := mustParse(t, map[string]string{
		"service.github":        "appID: 1\ninstallationID: 9\nprivateKey: $key\nbaseURL: " + base,
		"context":               "argocdUrl: https://argocd.example.com",
		"template.app-deployed": githubDocsTemplate,
	}, map[string][]byte{"key": []byte(keyPEM8)})
	if err := deliver(t, c, githubEvent(), Destination{Service: "github"}); err != nil {
		t.Fatal(err)
	}
	reqs := r.requests()
	want := []string{"/app/installations/9/access_tokens", repo + "/statuses/" + githubRev,
		repo + "/deployments?environment=production&ref=" + githubRev, repo + "/deployments", repo + "/deployments/5/statuses"}
	if len(reqs) != len(want) {
		t.Fatalf("got %d requests, want %d: %v", len(reqs), len(want), reqs)
	}
	checkAppJWT(t, reqs[0].header.Get("Authorization"), &key.PublicKey, "1", time.Now())
	for i, w := range want {
		if reqs[i].uri != w {
			t.Errorf("request %d = %s, want %s", i, reqs[i].uri, w)
		}
		if a := reqs[i].header.Get("Authorization"); i > 0 && a != "token ghs_chain" {
			t.Errorf("request %d: Authorization %q", i, a)
		}
	}
}

func TestSendGitHubAppTokenRefused(t *testing.T) {
	_, keyPEM := testRSAKey(t)
	r, base := serve(t, 401)
	r.reply = `{"message":"A JSON web token could not be decoded"}`
	c := mustParse(t, map[string]string{
		"service.github": "appID: 1\ninstallationID: 9\nprivateKey: $key\nbaseURL: " + base,
	}, map[string][]byte{"key": []byte(keyPEM)})
	err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "github"})
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("error %v", err)
	}
	if n := len(r.requests()); n != 1 {
		t.Errorf("%d requests, want 1 (no API call without a token)", n)
	}
	// A reply without a token is an error too.
	r.reply = `{}`
	if err := deliver(t, c, testEvent(TriggerDeployed), Destination{Service: "github"}); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("error %v", err)
	}
}

func TestParseGitHubApp(t *testing.T) {
	_, keyPEM := testRSAKey(t)
	secret := map[string][]byte{"key": []byte(keyPEM), "bad": []byte("-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END RSA PRIVATE KEY-----\n")}
	tests := []struct{ value, want string }{
		{"appID: 1\ninstallationID: 2", "privateKey is required"},
		{"installationID: 2\nprivateKey: $key", "appID is required"},
		{"appID: one\ninstallationID: 2\nprivateKey: $key", "appID is not a positive integer"},
		{"appID: 1\ninstallationID: 2\nprivateKey: $bad", "privateKey: cannot parse"},
		{"appID: 1\ninstallationID: 2\nprivateKey: not a key", "privateKey: not a PEM"},
		{"appID: 1\ninstallationID: 2\nprivateKey: $key\ntoken: ghp", "set a token or a GitHub App"},
		{"enterpriseBaseURL: https://ghe.example.com/api/v3", "token, or a GitHub App"},
	}
	for _, tt := range tests {
		_, err := Parse(map[string]string{"service.github": tt.value}, secret)
		if err == nil || !strings.Contains(err.Error(), "service.github: "+tt.want) {
			t.Errorf("%q: %v, want %q", tt.value, err, tt.want)
			continue
		}
		if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%q: error %q shows the key", tt.value, err)
		}
	}
	c := mustParse(t, map[string]string{"service.github": "appID: $id\ninstallationID: 77\nprivateKey: $key\nenterpriseBaseURL: https://ghe.example.com/api/v3/"},
		map[string][]byte{"id": []byte("123"), "key": []byte(keyPEM)})
	g := c.services["github"].(*githubService)
	if g.app == nil || g.app.appID != 123 || g.app.installationID != 77 || g.baseURL != "https://ghe.example.com/api/v3" || g.token != "" {
		t.Errorf("service %+v app %+v", g.statusService, g.app)
	}
	if got := c.redact(keyPEM); got != "***" {
		t.Errorf("the key is not redacted")
	}
}
