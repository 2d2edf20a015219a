package application

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
)

// capabilitiesTTL is how long a cluster's capabilities are reused: a CRD
// installed since shows in charts' .Capabilities.APIVersions within it
// (a hard refresh of the Application does not wait). A failed discovery is
// not tried again for capabilitiesRetry: an unreachable cluster costs one
// attempt per interval, not one per reconcile.
const (
	capabilitiesTTL   = 10 * time.Minute
	capabilitiesRetry = 30 * time.Second
)

// capabilities tells what the cluster's Helm charts see of it
// (appstate.DiscoverCapabilities), read through the target's cached
// discovery at most once per capabilitiesTTL, or at once after a hard
// refresh dropped them. When a refresh fails, the capabilities read before
// are served until a later one succeeds.
func (t *target) capabilities(ctx context.Context) (appstate.Capabilities, error) {
	t.capsMu.Lock() // one discovery at a time; the others wait for its answer
	defer t.capsMu.Unlock()
	now := time.Now()
	fresh := t.caps != nil && now.Sub(t.capsAt) < capabilitiesTTL
	if fresh || (t.capsErr != nil && now.Sub(t.capsErrAt) < capabilitiesRetry) {
		if t.caps != nil {
			return *t.caps, nil
		}
		return appstate.Capabilities{}, t.capsErr
	}
	d := t.discovery()
	if t.caps != nil || t.capsErr != nil {
		d.Invalidate()
	}
	caps, err := appstate.DiscoverCapabilities(d)
	if err != nil {
		t.capsErr, t.capsErrAt = err, now
		if t.caps != nil {
			return *t.caps, nil
		}
		return caps, err
	}
	sum := sha256.Sum256([]byte(caps.KubeVersion + "\n" + strings.Join(caps.APIVersions, "\n")))
	t.caps, t.capsAt, t.capsKey, t.capsErr = &caps, now, hex.EncodeToString(sum[:]), nil
	return caps, nil
}

// inputsKey is appstate.InputsKey with what renders see besides the
// Application: the destination's capabilities (a CRD installed, a cluster
// upgraded: the next reconcile compares in full, and a chart asking for
// them renders again) and argocd-cm's kustomize build options.
func (r *Reconciler) inputsKey(ctx context.Context, app *v1alpha1.Application, dst *target, revision string) string {
	return appstate.InputsKey(app, revision, r.kustomizeBuildOptions(ctx)+"\n"+dst.capabilitiesKey(ctx))
}

// capabilitiesKey is a hash of the cluster's capabilities ("" when they
// cannot be read: the render that needs them says why).
func (t *target) capabilitiesKey(ctx context.Context) string {
	if _, err := t.capabilities(ctx); err != nil {
		return ""
	}
	t.capsMu.Lock()
	defer t.capsMu.Unlock()
	return t.capsKey
}

// forgetCapabilitiesBefore makes the next capabilities call discover again
// unless the last discovery was made after t.
func (t *target) forgetCapabilitiesBefore(at time.Time) {
	t.capsMu.Lock()
	defer t.capsMu.Unlock()
	if t.capsAt.After(at) || t.capsErrAt.After(at) {
		return
	}
	t.capsAt, t.capsErrAt = time.Time{}, time.Time{}
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
