package application

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/project"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// orphanChecks remembers when each Application's destination namespace was
// last listed for orphans: a listing touches every namespaced kind, so it
// runs at most once per poll interval, and only for projects that ask.
type orphanChecks struct {
	mu   sync.Mutex
	last map[types.NamespacedName]time.Time
}

func (o *orphanChecks) due(app types.NamespacedName, now time.Time, every time.Duration) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.last == nil {
		o.last = map[types.NamespacedName]time.Time{}
	}
	if now.Sub(o.last[app]) < every {
		return false
	}
	o.last[app] = now
	return true
}

// builtIn are objects Kubernetes itself puts in every namespace (or derives
// from others): never reported as orphaned. Argo CD reports the first two
// and users add them to ignore; Ferry leaves them out from the start.
func builtIn(gk schema.GroupKind, name string) bool {
	switch {
	case gk.Group == "" && gk.Kind == "ConfigMap" && name == "kube-root-ca.crt",
		gk.Group == "" && gk.Kind == "ServiceAccount" && name == "default":
		return true
	}
	return false
}

// skippedKinds are never listed for orphans: records, not managed objects.
var skippedKinds = map[schema.GroupKind]bool{
	{Kind: "Event"}: true, {Group: "events.k8s.io", Kind: "Event"}: true,
	{Kind: "Endpoints"}: true, {Group: "discovery.k8s.io", Kind: "EndpointSlice"}: true,
	{Group: "coordination.k8s.io", Kind: "Lease"}:                     true,
	{Group: "authorization.k8s.io", Kind: "LocalSubjectAccessReview"}: true,
}

// reportOrphans sets (or clears) the OrphanedResourceWarning condition: the
// objects in the Application's destination namespace that no Application
// tracks and nothing owns, as Argo CD's orphanedResources.warn asks.
// Objects the project's ignore list names are left out. Failures to list
// leave the condition as it was: the warning is advice, not a gate.
func (r *Reconciler) reportOrphans(ctx context.Context, rn *run) {
	p, app := rn.project, rn.app
	if o := p.Spec.OrphanedResources; o == nil || o.Warn == nil || !*o.Warn || app.Spec.Destination.Namespace == "" {
		rn.conds.clear(v1alpha1.ApplicationConditionOrphanedResourceWarning)
		return
	}
	if !r.orphanChecks.due(appKey(app), time.Now(), r.opts.PollInterval) {
		return
	}
	orphans, err := rn.dst.orphans(ctx, app.Spec.Destination.Namespace, p)
	if err != nil {
		return
	}
	if len(orphans) == 0 {
		rn.conds.clear(v1alpha1.ApplicationConditionOrphanedResourceWarning)
		return
	}
	shown := orphans
	if len(shown) > 20 {
		shown = shown[:20]
	}
	msg := fmt.Sprintf("Application has %d orphaned resources in namespace %s: %s", len(orphans), app.Spec.Destination.Namespace, strings.Join(shown, ", "))
	if len(orphans) > len(shown) {
		msg += fmt.Sprintf(" and %d more", len(orphans)-len(shown))
	}
	rn.conds.set(v1alpha1.ApplicationConditionOrphanedResourceWarning, msg)
}

// orphans lists namespace's objects of every listable namespaced kind
// (metadata only) and returns those no Application tracks, without owner
// references, not built in and not ignored by p, sorted.
func (t *target) orphans(ctx context.Context, namespace string, p *v1alpha1.AppProject) ([]string, error) {
	lists, err := t.discovery().ServerPreferredNamespacedResources()
	if err != nil && len(lists) == 0 {
		return nil, fmt.Errorf("discover namespaced kinds: %w", err)
	}
	var out []string
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, res := range l.APIResources {
			gk := schema.GroupKind{Group: gv.Group, Kind: res.Kind}
			if skippedKinds[gk] || !slices.Contains(res.Verbs, "list") || strings.Contains(res.Name, "/") {
				continue
			}
			list := &metav1.PartialObjectMetadataList{}
			list.SetGroupVersionKind(gv.WithKind(res.Kind + "List"))
			if err := t.direct.List(ctx, list, client.InNamespace(namespace)); err != nil {
				return nil, fmt.Errorf("list %s in %s: %w", gk, namespace, err)
			}
			for _, obj := range list.Items {
				if len(obj.OwnerReferences) > 0 || obj.Annotations[fsync.TrackingAnnotation] != "" ||
					builtIn(gk, obj.Name) || project.OrphanIgnored(p, gk, obj.Name) {
					continue
				}
				out = append(out, res.Kind+" "+obj.Name)
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// discovery is the target's discovery client, cached in memory.
func (t *target) discovery() discovery.CachedDiscoveryInterface {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.disco == nil {
		t.disco = memory.NewMemCacheClient(discovery.NewDiscoveryClientForConfigOrDie(t.config))
	}
	return t.disco
}
