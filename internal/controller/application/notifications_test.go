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
	"sigs.k8s.io/yaml"

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

// catalogTriggers are Argo CD's notifications catalog triggers, as its
// files write them (notifications_catalog/triggers/*.yaml, `when: true`
// unquoted included), in ConfigMap form.
const catalogTriggers = `
  trigger.on-created: |
    - when: true
      description: Application is created.
      send: [app-created]
      oncePer: app.metadata.name
  trigger.on-deleted: |
    - when: app.metadata.deletionTimestamp != nil
      description: Application is deleted.
      send: [app-deleted]
      oncePer: app.metadata.name
  trigger.on-deployed: |
    - when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded'] and app.status.health.status == 'Healthy' and (!time.Parse(app.status.health.lastTransitionTime).Add(1 * time.Minute).Before(time.Parse(app.status.operationState.finishedAt)) or time.Parse(app.status.health.lastTransitionTime).Before(time.Parse(app.status.operationState.startedAt)))
      description: Application is synced and healthy. Triggered once per commit.
      send: [app-deployed]
      oncePer: app.status.operationState?.syncResult?.revision
  trigger.on-health-degraded: |
    - when: app.status.health.status == 'Degraded'
      description: Application has degraded
      send: [app-health-degraded]
      oncePer: app.status.operationState?.syncResult?.revision
  trigger.on-sync-failed: |
    - when: app.status.operationState != nil and app.status.operationState.phase in ['Error', 'Failed']
      description: Application syncing has failed
      send: [app-sync-failed]
      oncePer: app.status.operationState?.syncResult?.revision
  trigger.on-sync-running: |
    - when: app.status.operationState != nil and app.status.operationState.phase in ['Running']
      description: Application is being synced
      send: [app-sync-running]
      oncePer: app.status.operationState?.syncResult?.revision
  trigger.on-sync-status-unknown: |
    - when: app.status.sync.status == 'Unknown'
      description: Application status is 'Unknown'
      send: [app-sync-status-unknown]
      oncePer: app.status.operationState?.syncResult?.revision
  trigger.on-sync-succeeded: |
    - when: app.status.operationState != nil and app.status.operationState.phase in ['Succeeded']
      description: Application syncing has succeeded
      send: [app-sync-succeeded]
      oncePer: app.status.operationState?.syncResult?.revision
`

// notificationTemplates are the templates the triggers send; each posts the
// same JSON to the webhook.
var notificationTemplates = []string{"app-created", "app-deleted", "app-deployed", "app-health-degraded", "app-sync-failed",
	"app-sync-running", "app-sync-status-unknown", "app-sync-succeeded", "app-drift-detected", "app-out-of-sync", "replicas-changed"}

// configureNotifications writes Argo CD Notifications' ConfigMap and Secret:
// the catalog's triggers, a trigger of the test's own over app.status, and
// a webhook service pointing at url.
func configureNotifications(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	data := map[string]string{}
	if err := yaml.Unmarshal([]byte(catalogTriggers), &data); err != nil {
		t.Fatal(err)
	}
	data["service.webhook.ops"] = "url: " + url + "\nheaders:\n- name: X-Token\n  value: $token\nhmacSecret: $hmac\n"
	// A Deployment changed by a sync (not created, not unchanged): once per
	// revision.
	data["trigger.on-replicas-changed"] = `- when: app.status.operationState != nil and app.status.operationState.phase == 'Succeeded' and any(app.status.operationState.syncResult.resources, {.kind == 'Deployment' and .message endsWith ' configured'})
  oncePer: app.status.operationState.syncResult.revision
  send: [replicas-changed]
`
	for _, name := range notificationTemplates {
		data["template."+name] = `webhook:
  ops:
    method: POST
    body: |
      {"trigger":"{{.trigger}}","app":"{{.app.metadata.name}}","revision":"{{.revision}}","message":{{toJson .message}},"manager":"{{.context.manager}}"}
`
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

// subscribeAll subscribes app's ops webhook to triggers.
func subscribeAll(app *v1alpha1.Application, triggers ...string) {
	if app.Annotations == nil {
		app.Annotations = map[string]string{}
	}
	for _, tr := range triggers {
		app.Annotations["notifications.argoproj.io/subscribe."+tr+".ops"] = ""
	}
}

// TestNotifications drives an Application through the states Argo CD's
// catalog triggers watch, each configured with its `when:` expression, and
// checks each is delivered (signed) exactly as often as its condition and
// oncePer say; Ferry's drift trigger names the field manager; a trigger
// of the user's own fires once and only when its condition holds.
func TestNotifications(t *testing.T) {
	ctx := t.Context()
	in := &inbox{}
	srv := httptest.NewServer(in)
	t.Cleanup(srv.Close)
	configureNotifications(ctx, t, srv.URL)

	deployment := func(replicas int, nodeSelector string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {argocd.argoproj.io/sync-wave: "1"}
spec:
  replicas: %d
  progressDeadlineSeconds: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      %s
      containers: [{name: web, image: example/web:1}]
`, replicas, nodeSelector)
	}
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1"), "cms/web.yaml": deployment(1, "")})
	first := repo.commit("one")
	app := newApp("notified", "notified", repo, "cms", &v1alpha1.SyncPolicyAutomated{SelfHeal: true})
	app.Finalizers = []string{"resources-finalizer.argocd.argoproj.io"}
	subscribeAll(app, "on-created", "on-deleted", "on-deployed", "on-health-degraded", "on-sync-failed", "on-sync-running",
		"on-sync-status-unknown", "on-sync-succeeded", "on-drift-detected", "on-out-of-sync", "on-replicas-changed")
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
	expect("on-created", 1, "")
	// Two waves: the sync shows itself Running.
	expect("on-sync-running", 1, first)
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

	// A commit that changes only a ConfigMap: the user's trigger stays
	// quiet; one that scales the Deployment: it fires, once.
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "2")})
	second := repo.commit("config only")
	expect("on-deployed", 2, second)
	repo.write(map[string]string{"cms/web.yaml": deployment(2, "")})
	third := repo.commit("scale to 2")
	expect("on-replicas-changed", 1, third)
	expect("on-deployed", 3, third)

	// A revision the API server rejects: the sync fails, and is retried,
	// but is told once.
	repo.write(map[string]string{"cms/b.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\ndata: {value: [1, 2]}\n"})
	broken := repo.commit("a broken config map")
	failed := expect("on-sync-failed", 1, broken)
	if !strings.Contains(failed.Message, "b") {
		t.Errorf("failure notification %+v: want the API server's reason", failed)
	}
	// Out of sync with each of the four revisions in turn, once each (the
	// drift at the first one is told by on-drift-detected).
	expect("on-out-of-sync", 4, broken)
	time.Sleep(3 * time.Second) // a retry or two later: still one per revision
	for trigger, n := range map[string]int{"on-sync-failed": 1, "on-out-of-sync": 4, "on-sync-succeeded": 3, "on-deployed": 3,
		"on-drift-detected": 1, "on-replicas-changed": 1, "on-created": 1} {
		if got, _ := in.count("notified", trigger); got != n {
			t.Errorf("%s: %d notifications, want %d (%s)", trigger, got, n, in.describe("notified"))
		}
	}
	// A revision whose Deployment cannot make progress: Degraded, told once.
	repo.write(map[string]string{"cms/b.yaml": configMap("b", "fixed"),
		"cms/web.yaml": deployment(2, "nodeSelector: {ferry.test/no-such-node: \"true\"}")})
	stuck := repo.commit("a deployment that cannot roll out")
	expect("on-sync-succeeded", 4, stuck)
	degraded := expect("on-health-degraded", 1, stuck)
	if !strings.Contains(strings.ToLower(degraded.Message), "deadline") {
		t.Errorf("degraded notification %+v: want the Deployment's reason", degraded)
	}

	// A path that does not exist: the comparison fails, the sync status is
	// Unknown.
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"source":{"path":"no/such/path"}}}`))
	if err := env.Client.Patch(ctx, app, patch); err != nil {
		t.Fatal(err)
	}
	expect("on-sync-status-unknown", 1, "")

	// The CLI, as argocd admin notifications: ferry notify test sends what
	// a trigger sends through the same configuration, whatever its
	// condition; trigger run evaluates one; template get shows one.
	deployed, _ := in.count("notified", "on-deployed")
	notifyCLI := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		cmd := cli.NewRootCmd(cli.IOStreams{In: strings.NewReader(""), Out: &out, Err: &out})
		cmd.SetArgs(append(append([]string{"notify"}, args...), "-n", "argocd",
			"--kubeconfig", env.Cluster.KubeconfigPath(), "--context", localcluster.UserContext))
		if err := cmd.ExecuteContext(ctx); err != nil {
			t.Errorf("ferry notify %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	if out := notifyCLI("test", "on-deployed", "notified"); !strings.Contains(out, "sent app-deployed to ops") {
		t.Errorf("ferry notify test:\n%s", out)
	}
	expect("on-deployed", deployed+1, "")
	if out := notifyCLI("trigger", "run", "on-sync-status-unknown", "notified"); !strings.Contains(out, "app.status.sync.status == 'Unknown'  true") {
		t.Errorf("ferry notify trigger run:\n%s", out)
	}
	if out := notifyCLI("trigger", "run", "on-replicas-changed", "notified"); !strings.Contains(out, "true    "+stuck) {
		t.Errorf("ferry notify trigger run:\n%s", out)
	}
	if out := notifyCLI("template", "get", "replicas-changed", "-o", "yaml"); !strings.Contains(out, "# template.replicas-changed\nwebhook:") {
		t.Errorf("ferry notify template get:\n%s", out)
	}
	if out := notifyCLI("template", "notify", "app-sync-running", "notified", "--recipient", "ops"); !strings.Contains(out, "sent app-sync-running to ops") {
		t.Errorf("ferry notify template notify:\n%s", out)
	}
	expect("", 1, "") // a template sent by hand is no trigger's

	// Deleted (the resources finalizer holds it while its objects go).
	if err := env.Client.Delete(ctx, app); err != nil {
		t.Fatal(err)
	}
	expect("on-deleted", 1, "")
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
	subscribeAll(app, "on-sync-succeeded")
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
