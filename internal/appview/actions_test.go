package appview

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

var webKey = types.NamespacedName{Namespace: "argocd", Name: "web"}

func fakeClient(objs ...client.Object) client.Client {
	return fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(objs...).
		WithStatusSubresource(&v1alpha1.Application{}).Build()
}

func webApp() *v1alpha1.Application {
	app := oneSource()
	app.ObjectMeta = metav1.ObjectMeta{Namespace: webKey.Namespace, Name: webKey.Name}
	app.Spec.Project = "default"
	return app
}

func readApp(t *testing.T, c client.Client) *v1alpha1.Application {
	t.Helper()
	app := &v1alpha1.Application{}
	if err := c.Get(t.Context(), webKey, app); err != nil {
		t.Fatal(err)
	}
	return app
}

func TestStartOperation(t *testing.T) {
	c := fakeClient(webApp())
	op := v1alpha1.Operation{Sync: &v1alpha1.SyncOperation{Revision: "abc"}, InitiatedBy: v1alpha1.OperationInitiator{Username: "alice"}}
	if err := StartOperation(t.Context(), c, webKey, op); err != nil {
		t.Fatal(err)
	}
	if got := readApp(t, c).Operation; got == nil || got.Sync.Revision != "abc" || got.InitiatedBy.Username != "alice" {
		t.Errorf("operation written: %+v", got)
	}
	if err := StartOperation(t.Context(), c, webKey, op); err == nil || !strings.Contains(err.Error(), "another operation is already in progress") {
		t.Errorf("second operation: err = %v, want a refusal", err)
	}
	missing := types.NamespacedName{Namespace: "argocd", Name: "missing"}
	if err := StartOperation(t.Context(), c, missing, op); err == nil || !strings.Contains(err.Error(), "get application argocd/missing") {
		t.Errorf("missing application: err = %v", err)
	}
}

func TestTerminate(t *testing.T) {
	app := webApp()
	c := fakeClient(app)
	if err := Terminate(t.Context(), c, webKey); err == nil || !strings.Contains(err.Error(), "has no operation in progress") {
		t.Errorf("nothing running: err = %v", err)
	}
	app = readApp(t, c)
	app.Status.OperationState = &v1alpha1.OperationState{Phase: v1alpha1.OperationRunning}
	if err := c.Status().Update(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	if err := Terminate(t.Context(), c, webKey); err != nil {
		t.Fatal(err)
	}
	if st := readApp(t, c).Status.OperationState; st.Phase != v1alpha1.OperationTerminating {
		t.Errorf("phase %s, want Terminating", st.Phase)
	}
}

func TestRefresh(t *testing.T) {
	c := fakeClient(webApp())
	if err := Refresh(t.Context(), c, webKey, "soft"); err == nil || !strings.Contains(err.Error(), "want normal or hard") {
		t.Errorf("unknown mode: err = %v", err)
	}
	if err := Refresh(t.Context(), c, webKey, "hard"); err != nil {
		t.Fatal(err)
	}
	app := readApp(t, c)
	if got := app.Annotations[refreshAnnotation]; got != "hard" {
		t.Fatalf("annotation %q, want hard", got)
	}
	// The controller handles it: it removes the annotation.
	delete(app.Annotations, refreshAnnotation)
	if err := c.Update(t.Context(), app); err != nil {
		t.Fatal(err)
	}
	if err := WaitRefreshed(t.Context(), c, webKey); err != nil {
		t.Errorf("WaitRefreshed after the controller's answer: %v", err)
	}
}

func TestDisableAutoSync(t *testing.T) {
	app := webApp()
	app.Spec.SyncPolicy = &v1alpha1.SyncPolicy{Automated: &v1alpha1.SyncPolicyAutomated{Prune: true}, SyncOptions: []string{"CreateNamespace=true"}}
	c := fakeClient(app)
	if err := DisableAutoSync(t.Context(), c, readApp(t, c)); err != nil {
		t.Fatal(err)
	}
	if p := readApp(t, c).Spec.SyncPolicy; p == nil || p.Automated != nil || len(p.SyncOptions) != 1 {
		t.Errorf("sync policy after DisableAutoSync: %+v", p)
	}
}

func TestSyncWindowStateWithoutProject(t *testing.T) {
	c := fakeClient(webApp())
	if got := SyncWindowState(t.Context(), c, webApp()); !strings.HasPrefix(got, "Unknown (project default: ") {
		t.Errorf("SyncWindowState = %q, want Unknown naming the project", got)
	}
	if err := WindowAllows(t.Context(), c, webApp()); err != nil {
		t.Errorf("WindowAllows with a project it cannot read: %v, want it left to the controller", err)
	}
}
