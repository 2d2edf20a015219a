package application

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/appstate"
)

// capabilitiesTTL is how long a cluster's capabilities are reused: a CRD
// installed since shows in charts' .Capabilities.APIVersions within it
// (a hard refresh of the Application does not wait).
const capabilitiesTTL = 10 * time.Minute

// capabilities tells what the cluster's Helm charts see of it
// (appstate.DiscoverCapabilities), read through the target's cached
// discovery at most once per capabilitiesTTL, or at once after a hard
// refresh dropped them.
func (t *target) capabilities(ctx context.Context) (appstate.Capabilities, error) {
	t.capsMu.Lock() // one discovery at a time; the others wait for its answer
	defer t.capsMu.Unlock()
	if t.caps != nil && time.Since(t.capsAt) < capabilitiesTTL {
		return *t.caps, nil
	}
	d := t.discovery()
	if t.caps != nil {
		d.Invalidate()
	}
	caps, err := appstate.DiscoverCapabilities(d)
	if err != nil {
		return caps, err
	}
	t.caps, t.capsAt = &caps, time.Now()
	return caps, nil
}

// forgetCapabilities makes the next capabilities call discover again.
func (t *target) forgetCapabilities() {
	t.capsMu.Lock()
	defer t.capsMu.Unlock()
	t.capsAt = time.Time{}
}

// argoCDConfigMap is Argo CD's settings ConfigMap in the home namespace;
// Ferry reads kustomize.buildOptions from it.
const argoCDConfigMap = "argocd-cm"

// kustomizeBuildOptions is argocd-cm's kustomize.buildOptions, read from
// the home namespace's watch cache ("" when there is none).
func (r *Reconciler) kustomizeBuildOptions(ctx context.Context) string {
	if r.opts.Secrets == nil {
		return ""
	}
	cm := &corev1.ConfigMap{}
	if err := r.opts.Secrets.Get(ctx, client.ObjectKey{Namespace: r.opts.HomeNamespace, Name: argoCDConfigMap}, cm); err != nil {
		return ""
	}
	return cm.Data["kustomize.buildOptions"]
}
