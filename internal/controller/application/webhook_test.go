package application_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func githubPush(repoURL, branch, after string) []byte {
	body, _ := json.Marshal(map[string]any{"ref": "refs/heads/" + branch, "after": after,
		"repository": map[string]any{"clone_url": repoURL, "html_url": repoURL}})
	return body
}

func sign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// post sends a webhook and returns the status and body.
func post(ctx context.Context, t *testing.T, headers map[string]string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, env.WebhookURL+"/api/webhook", body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post webhook: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// TestWebhookRefreshesMatchingApps: a signed GitHub push refreshes only the
// Applications of that repository and branch, and they sync the pushed
// commit; a GitLab push with its token too. Bad signatures, wrong tokens,
// oversized bodies, malformed JSON and replays are refused and refresh
// nothing.
func TestWebhookRefreshesMatchingApps(t *testing.T) {
	ctx := t.Context()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-secret", Namespace: "argocd"},
		StringData: map[string]string{"webhook.github.secret": "gh-secret-1", "webhook.gitlab.secret": "gl-token-1"}}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), secret) })

	pushed, other := newGitRepo(t), newGitRepo(t)
	pushed.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	first := pushed.commit("one")
	other.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	other.commit("one")
	hooked := newApp("hooked", "hooked", pushed, "cms", &v1alpha1.SyncPolicyAutomated{})
	bystander := newApp("bystander", "bystander", other, "cms", &v1alpha1.SyncPolicyAutomated{})
	create(t, hooked)
	create(t, bystander)
	waitApp(t, hooked, "Synced", syncedAt(first))

	pushed.write(map[string]string{"cms/a.yaml": configMap("a", "2")})
	second := pushed.commit("two")
	body := githubPush(pushed.url(), "main", second)
	gh := map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1", "X-Hub-Signature-256": sign("gh-secret-1", body),
		"Content-Type": "application/json"}
	code, resp := post(ctx, t, gh, bytes.NewReader(body))
	if code != http.StatusOK || !strings.Contains(resp, `"refreshed":1`) {
		t.Fatalf("GitHub push: %d %s, want 200 refreshing exactly one Application", code, resp)
	}
	waitApp(t, hooked, "Synced at the pushed commit", syncedAt(second))

	code, resp = post(ctx, t, gh, bytes.NewReader(body))
	if code != http.StatusBadRequest || !strings.Contains(resp, "duplicate") {
		t.Errorf("replayed delivery: %d %s, want 400 duplicate", code, resp)
	}
	feature := githubPush(pushed.url(), "feature", second)
	code, resp = post(ctx, t, map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-2",
		"X-Hub-Signature-256": sign("gh-secret-1", feature)}, bytes.NewReader(feature))
	if code != http.StatusOK || !strings.Contains(resp, `"refreshed":0`) {
		t.Errorf("push to another branch: %d %s, want 200 refreshing nothing", code, resp)
	}

	gitlab, _ := json.Marshal(map[string]any{"object_kind": "push", "ref": "refs/heads/main", "after": second, "checkout_sha": second,
		"project": map[string]any{"git_http_url": pushed.url(), "web_url": pushed.url()}})
	code, resp = post(ctx, t, map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "gl-token-1"}, bytes.NewReader(gitlab))
	if code != http.StatusOK || !strings.Contains(resp, `"refreshed":1`) {
		t.Errorf("GitLab push: %d %s", code, resp)
	}

	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    io.Reader
		code    int
	}{
		{"bad HMAC", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-3", "X-Hub-Signature-256": sign("wrong", body)}, bytes.NewReader(body), 401},
		{"wrong GitLab token", map[string]string{"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "nope"}, bytes.NewReader(gitlab), 401},
		{"100 MB body", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-4", "X-Hub-Signature-256": "sha256=00"},
			io.LimitReader(zeros{}, 100<<20), 413},
		{"malformed JSON", map[string]string{"X-GitHub-Event": "push", "X-GitHub-Delivery": "d-5", "X-Hub-Signature-256": sign("gh-secret-1", []byte("{not json"))},
			strings.NewReader("{not json"), 400},
	} {
		if code, resp := post(ctx, t, tc.headers, tc.body); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, resp, tc.code)
		}
	}
	eventually(t, 10*time.Second, "webhook requests counted", func(ctx context.Context) (bool, string) {
		families := scrape(ctx, t)
		accepted, _ := value(families, "ferry_webhook_requests_total", map[string]string{"provider": "github", "result": "accepted"})
		refused, _ := value(families, "ferry_webhook_requests_total", map[string]string{"provider": "github", "result": "unauthorized"})
		return accepted >= 2 && refused >= 1, fmt.Sprintf("accepted %v, unauthorized %v", accepted, refused)
	})
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
