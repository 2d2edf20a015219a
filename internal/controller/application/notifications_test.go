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
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cli"
	"github.com/ferrycd/ferry/internal/localcluster"
)

// received is one notification the test server got.
type received struct {
	Trigger, App, Revision, Message, Manager string
}

// inbox is a webhook endpoint that checks the token and HMAC of each
// notification and keeps them.
type inbox struct {
	mu  sync.Mutex
	got []received
	bad []string
}

func (in *inbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	mac := hmac.New(sha256.New, []byte("hmac-key-42"))
	mac.Write(body)
	in.mu.Lock()
	defer in.mu.Unlock()
	if r.Header.Get("X-Token") != "token-42" || r.Header.Get("X-Ferry-Signature-256") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		in.bad = append(in.bad, string(body))
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var rec received
	if err := json.Unmarshal(body, &rec); err != nil {
		in.bad = append(in.bad, string(body))
		return
	}
	in.got = append(in.got, rec)
}

// count returns how many notifications of a trigger arrived for app, and
// the last one.
func (in *inbox) count(app, trigger string) (int, received) {
	in.mu.Lock()
	defer in.mu.Unlock()
	n, last := 0, received{}
	for _, r := range in.got {
		if r.App == app && r.Trigger == trigger {
			n, last = n+1, r
		}
	}
	return n, last
}

func (in *inbox) describe(app string) string {
	in.mu.Lock()
	defer in.mu.Unlock()
	var out []string
	for _, r := range in.got {
		if r.App == app {
			out = append(out, fmt.Sprintf("%s@%.7s(%s)", r.Trigger, r.Revision, r.Manager))
		}
	}
	sort.Strings(out)
	return fmt.Sprintf("received %v, rejected %d", out, len(in.bad))
}

var triggers = []string{"on-sync-failed", "on-sync-succeeded", "on-deployed", "on-health-degraded", "on-drift-detected", "on-out-of-sync"}

// configureNotifications writes Argo CD Notifications' ConfigMap and Secret
// with a webhook service pointing at in.
func configureNotifications(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	data := map[string]string{
		"service.webhook.ops": "url: " + url + "\nheaders:\n- name: X-Token\n  value: $token\nhmacSecret: $hmac\n",
		"template.app-event": `webhook:
  ops:
    method: POST
    body: |
      {"trigger":"{{.trigger}}","app":"{{.app.metadata.name}}","revision":"{{.revision}}","message":{{toJson .message}},"manager":"{{.context.manager}}"}
`,
	}
	for _, tr := range triggers {
		data["trigger."+tr] = "- send: [app-event]\n"
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "argocd-notifications-cm", Namespace: "argocd"}, Data: data}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "argocd-notifications-secret", Namespace: "argocd"},
		StringData: map[string]string{"token": "token-42", "hmac": "hmac-key-42"}}
	for _, o := range []client.Object{cm, secret} {
		if err := env.Client.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = env.Client.Delete(context.Background(), o) })
	}
}

// TestNotifications: every trigger fires exactly once per revision with the
// expected payload, signed; a drift made with another field manager names
// it, whether or not self-heal reverts it.
func TestNotifications(t *testing.T) {
	ctx := t.Context()
	in := &inbox{}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	configureNotifications(ctx, t, srv.URL)

	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	first := repo.commit("one")
	app := newApp("notified", "notified", repo, "cms", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	app.Annotations = map[string]string{}
	for _, tr := range triggers {
		app.Annotations["notifications.argoproj.io/subscribe."+tr+".ops"] = ""
	}
	create(t, app)
	waitApp(t, app, "Synced and Healthy", func(a *v1alpha1.Application) bool { return syncedAt(first)(a) && healthy(a) })
	expect := func(trigger string, n int, rev string) received {
		t.Helper()
		var last received
		eventually(t, 30*time.Second, fmt.Sprintf("%d %s notification(s)", n, trigger), func(context.Context) (bool, string) {
			var got int
			got, last = in.count("notified", trigger)
			return got == n && (rev == "" || last.Revision == rev), in.describe("notified")
		})
		return last
	}
	// Synced by the reconcile that first compared it: never reported
	// OutOfSync, so no on-out-of-sync.
	expect("on-sync-succeeded", 1, first)
	expect("on-deployed", 1, first)

	// Someone edits a managed object by hand; self-heal reverts it.
	cm := &unstructured.Unstructured{}
	cm.SetAPIVersion("v1")
	cm.SetKind("ConfigMap")
	cm.SetNamespace("notified")
	cm.SetName("a")
	if err := env.Client.Patch(ctx, cm, client.RawPatch("application/merge-patch+json", []byte(`{"data":{"value":"hand"}}`)),
		client.FieldOwner("kubectl-edit")); err != nil {
		t.Fatal(err)
	}
	drift := expect("on-drift-detected", 1, first)
	if drift.Manager != "kubectl-edit" || !strings.Contains(drift.Message, "kubectl-edit") || !strings.Contains(drift.Message, "ConfigMap notified/a") {
		t.Errorf("drift notification %+v: want the manager kubectl-edit and the object", drift)
	}
	waitApp(t, app, "self-healed", func(a *v1alpha1.Application) bool { return syncedAt(first)(a) })

	// A revision the API server rejects: the sync fails, and is retried,
	// but is told once.
	repo.write(map[string]string{"cms/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {value: [1, 2]}\n"})
	second := repo.commit("a broken config map")
	failed := expect("on-sync-failed", 1, second)
	if !strings.Contains(failed.Message, "b") {
		t.Errorf("failure notification %+v: want the API server's reason", failed)
	}
	expect("on-out-of-sync", 1, second)
	time.Sleep(3 * time.Second) // a retry or two later: still one per revision
	for trigger, n := range map[string]int{"on-sync-failed": 1, "on-out-of-sync": 1, "on-sync-succeeded": 1, "on-deployed": 1, "on-drift-detected": 1} {
		if got, _ := in.count("notified", trigger); got != n {
			t.Errorf("%s: %d notifications, want %d (%s)", trigger, got, n, in.describe("notified"))
		}
	}
	// A revision whose Deployment cannot make progress: Degraded, told once.
	repo.write(map[string]string{"cms/b.yaml": configMap("b", "fixed"), "cms/web.yaml": `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  progressDeadlineSeconds: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {ferry.test/no-such-node: "true"}
      containers: [{name: web, image: example/web:1}]
`})
	third := repo.commit("a deployment that cannot roll out")
	expect("on-sync-succeeded", 2, third)
	degraded := expect("on-health-degraded", 1, third)
	if !strings.Contains(strings.ToLower(degraded.Message), "deadline") {
		t.Errorf("degraded notification %+v: want the Deployment's reason", degraded)
	}

	// ferry notify test sends a sample through the same configuration.
	var out bytes.Buffer
	cmd := cli.NewRootCmd(cli.IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
	cmd.SetArgs([]string{"notify", "test", "on-deployed", "notified", "-n", "argocd",
		"--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext})
	if err := cmd.ExecuteContext(ctx); err != nil || !strings.Contains(out.String(), "sent on-deployed") {
		t.Errorf("ferry notify test: %v\n%s", err, out.String())
	}
	if n, last := in.count("notified", "on-deployed"); n != 2 || !strings.Contains(last.Message, "test notification") {
		t.Errorf("after ferry notify test: %d on-deployed notifications (last %+v), want the real one and the sample", n, last)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.bad) > 0 {
		t.Errorf("notifications with a bad token or signature: %q", in.bad)
	}
}

// TestNotifiedManualSyncRunsOnce: recording a notification on a requested
// sync's Application does not keep the operation from being cleared, so the
// sync (and its hooks) runs once.
func TestNotifiedManualSyncRunsOnce(t *testing.T) {
	ctx := t.Context()
	in := &inbox{}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	configureNotifications(ctx, t, srv.URL)

	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	head := repo.commit("one")
	app := newApp("notified-manual", "notified-manual", repo, "cms", nil)
	app.Annotations = map[string]string{"notifications.argoproj.io/subscribe.on-sync-succeeded.ops": ""}
	app.Operation = &v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{}, InitiatedBy: v1alpha1.OperationInitiator{Username: "test"}}
	create(t, app)
	waitApp(t, app, "operation finished", func(a *v1alpha1.Application) bool {
		return a.Operation == nil && a.Status.OperationState != nil && a.Status.OperationState.Phase == v1alpha1.OperationSucceeded
	})
	eventually(t, 30*time.Second, "one on-sync-succeeded", func(context.Context) (bool, string) {
		n, _ := in.count("notified-manual", "on-sync-succeeded")
		return n == 1, in.describe("notified-manual")
	})
	time.Sleep(3 * time.Second) // a second run would have started by now
	got := getApp(ctx, t, app)
	if len(got.Status.History) != 1 || got.Status.History[0].Revision != head || got.Operation != nil {
		t.Errorf("history %+v, operation %+v: want exactly one sync", got.Status.History, got.Operation)
	}
}
