package appview

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/project"
)

// projectNamespace is where the sync windows' AppProjects are read, as
// Argo CD's API server reads them.
const projectNamespace = "argocd"

// WindowAllows refuses, as Argo CD's API server does, a sync the
// Application's project's sync windows block now (a requested sync:
// windows with manualSync let it through). A project the person may not
// read is left to the controller, which holds the operation until the
// window allows it.
func WindowAllows(ctx context.Context, c client.Client, app *v1alpha1.Application) error {
	p := &v1alpha1.AppProject{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: projectNamespace, Name: project.NameOf(app)}, p); err != nil {
		return nil
	}
	d, err := project.SyncWindowsAllow(p, app, true, time.Now())
	if err != nil {
		return fmt.Errorf("cannot sync %s: %w", app.Name, err)
	}
	if !d.Allowed {
		return fmt.Errorf("cannot sync %s: %s", app.Name, d.Message)
	}
	return nil
}

// SyncWindowState says, as `argocd app get` does, whether the project's
// sync windows let the Application sync now: "Sync Allowed", "Manual
// Allowed" (automated syncs are blocked, requested ones are not) or "Sync
// Denied" with the blocking window and until when; "Unknown (...)" when
// the project cannot be read.
func SyncWindowState(ctx context.Context, c client.Client, app *v1alpha1.Application) string {
	p := &v1alpha1.AppProject{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: projectNamespace, Name: project.NameOf(app)}, p); err != nil {
		return "Unknown (project " + project.NameOf(app) + ": " + err.Error() + ")"
	}
	now := time.Now()
	auto, err := project.SyncWindowsAllow(p, app, false, now)
	if err != nil {
		return "Unknown (" + err.Error() + ")"
	}
	if auto.Allowed {
		return "Sync Allowed"
	}
	if manual, err := project.SyncWindowsAllow(p, app, true, now); err == nil && manual.Allowed {
		return "Manual Allowed"
	}
	return "Sync Denied: " + auto.Message
}
