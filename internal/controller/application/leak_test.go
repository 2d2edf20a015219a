package application_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/gittest"
)

// bodies is a notification receiver keeping every request body.
type bodies struct {
	mu  sync.Mutex
	got []string
}

func (b *bodies) ServeHTTP(_ http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, r.URL.String()+"\n"+string(body))
}

func (b *bodies) all() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.got...)
}

// TestSecretLeakProbe plants one token where users put secrets — in a
// repository Secret's URL and password, in a Secret the Application
// applies (data, stringData, and a live object's kubectl last-applied
// annotation), in a Secret the API server refuses with a message quoting
// the value, and in a notification service's URL — then searches every
// surface a reader of Ferry sees: Applications, events, the controller's
// log, /metrics, `ferry app get/diff/history -o json`, and the bodies a
// real notification receiver got. The token must be nowhere.
func TestSecretLeakProbe(t *testing.T) {
	ctx := t.Context()
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	token := "leak" + hex.EncodeToString(raw)
	b64 := base64.StdEncoding.EncodeToString([]byte(token))

	recv := &bodies{}
	srv := httptest.NewServer(recv)
	t.Cleanup(srv.Close)
	hook := strings.Replace(srv.URL, "http://", "http://probe:"+token+"@", 1) + "/hook"
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-notifications-cm", Namespace: "argocd"}, Data: map[string]string{
		"service.webhook.probe": "url: " + hook + "\n",
		"template.probe": `webhook:
  probe:
    method: POST
    body: |
      {"app":"{{.app.metadata.name}}","repo":"{{.app.spec.source.repoURL}}","op":{{toJson .app.status.operationState}},"conditions":{{toJson .app.status.conditions}},"message":{{toJson .message}}}
`,
		"trigger.on-sync-succeeded": "- when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']\n  send: [probe]\n",
		"trigger.on-sync-failed":    "- when: app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']\n  send: [probe]\n",
	}}
	if err := env.Client.Create(ctx, cm); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), cm) })

	repo := newGitRepo(t)
	repo.write(map[string]string{
		"ok/secret.yaml":   fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: planted}\ndata: {password: %s}\nstringData: {token: %s}\n", b64, token),
		"ok/migrated.yaml": fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: migrated}\ndata: {password: %s}\n", b64),
		// The API server refuses a map where a string belongs, quoting it.
		"bad/secret.yaml": fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: refused}\nstringData:\n  token:\n    nested: %s\n", token),
	})
	head := repo.commit("secrets")
	root := t.TempDir()
	gittest.BareClone(t, repo.dir, root, "gitops-repo.git")
	gitSrv, _ := gittest.HTTPServer(t, root, "deploy", token)
	url := gitSrv.URL + "/gitops-repo.git"
	repoSecret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "leak-repo", Namespace: "argocd",
			Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
		StringData: map[string]string{"type": "git", "url": strings.Replace(url, "http://", "http://deploy:"+token+"@", 1), "username": "deploy", "password": token},
	}
	if err := env.Client.Create(ctx, repoSecret); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), repoSecret) })

	// A Secret kubectl applied before Ferry took it over: its last-applied
	// annotation holds the value in clear.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "leak-ok"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Client.Delete(context.Background(), ns) })
	migrated := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "migrated", Namespace: "leak-ok", Annotations: map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","metadata":{"name":"migrated","namespace":"leak-ok"},"stringData":{"password":%q}}`, token),
	}}, StringData: map[string]string{"password": token}}
	if err := env.Client.Create(ctx, migrated); err != nil {
		t.Fatal(err)
	}

	subscribe := map[string]string{
		"notifications.argoproj.io/subscribe.on-sync-succeeded.probe": "",
		"notifications.argoproj.io/subscribe.on-sync-failed.probe":    "",
	}
	ok := newApp("leak-ok", "leak-ok", repo, "ok", nil)
	ok.Spec.Source.RepoURL, ok.Annotations = url, subscribe
	bad := newApp("leak-bad", "leak-bad", repo, "bad", &v1alpha1.SyncPolicyAutomated{})
	bad.Spec.Source.RepoURL, bad.Annotations = url, subscribe
	create(t, ok)
	create(t, bad)

	out, err := ferryCLI(t, "app", "sync", "leak-ok")
	if err != nil {
		t.Fatalf("ferry app sync leak-ok: %v\n%s", err, out)
	}
	waitApp(t, ok, "Synced", syncedAt(head))
	waitApp(t, bad, "a failed sync", func(a *v1alpha1.Application) bool {
		return a.Status.OperationState != nil && a.Status.OperationState.Phase == v1alpha1.OperationFailed
	})
	// A Secret in Git not applied yet: `app diff` shows its stringData.
	repo.write(map[string]string{"ok/new.yaml": fmt.Sprintf("apiVersion: v1\nkind: Secret\nmetadata: {name: fresh}\nstringData: {token: %s}\n", token)})
	fresh := repo.commit("a new secret")
	repo.git("push", "-q", filepath.Join(root, "gitops-repo.git"), "main")
	refresh(ctx, t, ok, "normal")
	waitApp(t, ok, "OutOfSync at the new commit", func(a *v1alpha1.Application) bool {
		return a.Status.Sync.Revision == fresh && a.Status.Sync.Status == v1alpha1.SyncStatusCodeOutOfSync
	})
	eventually(t, 30*time.Second, "both notifications", func(context.Context) (bool, string) {
		got := recv.all()
		return strings.Contains(strings.Join(got, "\n"), "leak-ok") && strings.Contains(strings.Join(got, "\n"), "leak-bad"), fmt.Sprintf("%d bodies", len(got))
	})

	surfaces := map[string]string{}
	for _, name := range []string{"leak-ok", "leak-bad"} {
		for _, args := range [][]string{
			{"app", "get", name, "-o", "json"},
			{"app", "get", name},
			{"app", "diff", name},
			{"app", "history", name, "-o", "json"},
			{"app", "list", "-o", "wide"},
		} {
			out, err := ferryCLI(t, args...)
			if err != nil {
				out += "\nerror: " + err.Error()
			}
			surfaces["ferry "+strings.Join(args, " ")] = out
		}
	}
	if out := surfaces["ferry app diff leak-ok"]; !strings.Contains(out, "fresh") {
		t.Errorf("app diff leak-ok does not show the Secret not applied yet, so the probe proves nothing about it:\n%s", out)
	}
	if out := surfaces["ferry app get leak-bad"]; !strings.Contains(out, "refused") {
		t.Errorf("app get leak-bad does not show the refused Secret's error, so the probe proves nothing about it:\n%s", out)
	}
	apps := &unstructured.UnstructuredList{}
	apps.SetAPIVersion("argoproj.io/v1alpha1")
	apps.SetKind("ApplicationList")
	if err := env.Client.List(ctx, apps, client.InNamespace("argocd")); err != nil {
		t.Fatal(err)
	}
	surfaces["Applications"] = mustJSON(t, apps)
	for _, namespace := range []string{"argocd", "leak-ok", "leak-bad"} {
		core := &corev1.EventList{}
		if err := env.Client.List(ctx, core, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		events := &eventsv1.EventList{}
		if err := env.Client.List(ctx, events, client.InNamespace(namespace)); err != nil {
			t.Fatal(err)
		}
		surfaces["events in "+namespace] = mustJSON(t, core) + mustJSON(t, events)
	}
	surfaces["controller log"] = env.Logs.String()
	surfaces["/metrics"] = get(ctx, t, env.MetricsURL)
	surfaces["notification bodies"] = strings.Join(recv.all(), "\n")
	if !strings.Contains(surfaces["notification bodies"], "refused") {
		t.Errorf("no notification carried the refused Secret's error, so the probe proves nothing about it:\n%s", surfaces["notification bodies"])
	}
	for where, text := range surfaces {
		for _, form := range []string{token, b64} {
			if i := strings.Index(text, form); i >= 0 {
				t.Errorf("the token appears in %s: …%s…", where, text[max(0, i-200):min(len(text), i+len(form)+40)])
			}
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func get(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
