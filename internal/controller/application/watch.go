package application

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/event"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appstate"
	"github.com/ferrycd/ferry/internal/health"
	"github.com/ferrycd/ferry/internal/project"
	gitsource "github.com/ferrycd/ferry/internal/source"
	fsync "github.com/ferrycd/ferry/internal/sync"
)

// watcher starts a watch (an informer in the shared cache) on every kind an
// Application manages, the first time a comparison meets that kind, and
// turns events on managed objects into reconcile requests for their owner —
// only when the object changed in a way the last comparison did not see.
type watcher struct {
	cache   cache.Cache
	tracker *tracker
	home    string // namespace whose Applications are tracked by bare name
	events  chan event.GenericEvent
	// syncTimeout, when set, bounds the wait for a new watch to list its
	// objects (a registered cluster that does not answer must not hold a
	// reconcile worker).
	syncTimeout time.Duration

	mu      sync.Mutex
	watched map[schema.GroupVersionKind]bool
}

func newWatcher(c cache.Cache, t *tracker, home string) *watcher {
	return &watcher{cache: c, tracker: t, home: home, events: make(chan event.GenericEvent, 1024), watched: map[schema.GroupVersionKind]bool{}}
}

// ensure starts watching gvk if nothing watches it yet, and waits until the
// cache holds its objects.
func (w *watcher) ensure(ctx context.Context, gvk schema.GroupVersionKind) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.watched[gvk] {
		return nil
	}
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	if w.syncTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.syncTimeout)
		defer cancel()
	}
	inf, err := w.cache.GetInformer(ctx, u)
	if err != nil {
		return fmt.Errorf("watch %s: %w", gvk, err)
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { w.notify(obj, false) },
		UpdateFunc: func(_, obj any) { w.notify(obj, false) },
		DeleteFunc: func(obj any) { w.notify(obj, true) },
	}); err != nil {
		return fmt.Errorf("watch %s: %w", gvk, err)
	}
	w.watched[gvk] = true
	return nil
}

func (w *watcher) notify(obj any, deleted bool) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj, deleted = d.Obj, true
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return
	}
	instance, ok := fsync.Owner(u)
	if !ok {
		return
	}
	app := w.appFor(instance)
	f, h := fingerprint{}, health.Missing
	if !deleted {
		f, h = fingerprintOf(u), health.Assess(u).Status
	}
	if !w.tracker.changed(app, fsync.KeyOf(u), f, h) {
		return
	}
	w.events <- event.GenericEvent{Object: stubOf(app)}
}

// stubOf is the smallest object that asks for an Application's reconcile.
func stubOf(app types.NamespacedName) *v1alpha1.Application {
	stub := &v1alpha1.Application{}
	stub.Namespace, stub.Name = app.Namespace, app.Name
	return stub
}

// enqueue asks for a reconcile of app; false when ctx ended first.
func (w *watcher) enqueue(ctx context.Context, app types.NamespacedName) bool {
	select {
	case w.events <- event.GenericEvent{Object: stubOf(app)}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (w *watcher) appFor(instance string) types.NamespacedName {
	if ns, name, ok := strings.Cut(instance, "_"); ok {
		return types.NamespacedName{Namespace: ns, Name: name}
	}
	return types.NamespacedName{Namespace: w.home, Name: instance}
}

// RepositoryChanged tells the controller that Ferry itself just pushed to a
// repository (an image update automation): its refs are listed again now,
// not at the next poll, and every Application whose source is that
// repository is reconciled, so the commit rolls out at once.
func (r *Reconciler) RepositoryChanged(ctx context.Context, repoURL string) {
	r.refreshRepository(ctx, []string{repoURL}, func(string) bool { return true })
}

// RepositoryPushed is RepositoryChanged for a push someone announced (a
// webhook): only the Applications whose source is one of urls (the forms a
// push event gives) and whose target revision is the pushed branch or tag
// (or HEAD, which follows the default branch) are refreshed. It returns
// how many.
func (r *Reconciler) RepositoryPushed(ctx context.Context, urls []string, branch, tag string) int {
	return r.refreshRepository(ctx, urls, func(target string) bool {
		switch target {
		case "", "HEAD":
			return true
		case branch, tag, "refs/heads/" + branch:
			return target != ""
		}
		return false
	})
}

// refreshRepository lists the repository's refs once, now, and reconciles
// the Applications of any of urls whose target revision passes match.
func (r *Reconciler) refreshRepository(ctx context.Context, urls []string, match func(target string) bool) int {
	want := map[string]bool{}
	for _, u := range urls {
		if n, err := gitsource.NormalizeURL(u); err == nil {
			want[n] = true
		}
	}
	apps := &v1alpha1.ApplicationList{}
	if len(want) == 0 || r.client.List(ctx, apps) != nil {
		return 0
	}
	entries, err := r.clusterEntries(ctx) // for shard keys
	if err != nil {
		r.log.Error(err, "refresh after a push: list cluster Secrets")
		return 0
	}
	listed, n := map[string]bool{}, 0 // by project: a project may read its own copy
	for i := range apps.Items {
		app := &apps.Items[i]
		var src *v1alpha1.ApplicationSource
		for _, s := range appstate.Sources(app) {
			if got, err := gitsource.NormalizeURL(s.RepoURL); err == nil && want[got] && !appstate.IsChart(s) && match(s.TargetRevision) {
				src = &s
				break
			}
		}
		if src == nil {
			continue
		}
		if p := project.NameOf(app); !listed[p] {
			// One forced listing serves every Application of the repository
			// (of the project).
			_, _ = r.sources.Resolve(gitsource.WithProject(ctx, p), src.RepoURL, src.TargetRevision, true)
			listed[p] = true
		}
		if !r.refresh(ctx, entries, app) {
			return n
		}
		n++
	}
	return n
}
