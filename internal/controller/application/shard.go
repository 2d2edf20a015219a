package application

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/cluster"
	"github.com/ferrycd/ferry/internal/shard"
)

// shardKey is what app is assigned to a replica by: its destination
// cluster (so one replica alone connects to and watches a registered
// cluster), or the Application itself for the cluster Ferry runs in (so one
// big cluster is split too). A cluster Secret's shard field pins it.
func shardKey(entries []cluster.Entry, app *v1alpha1.Application) shard.Key {
	d := app.Spec.Destination
	server, pin := cluster.NormalizeServer(d.Server), -1
	if e := cluster.Lookup(entries, d.Server, d.Name); e != nil {
		server, pin = e.Server(), e.Shard()
	} else if server == "" && d.Name == cluster.InClusterName {
		server = cluster.InClusterServer
	}
	if server == "" || server == cluster.InClusterServer {
		// An unknown cluster name stalls the Application: whoever owns it
		// by name reports that.
		k := shard.AppKey(app.Namespace, app.Name)
		k.Pin = pin
		return k
	}
	return shard.ClusterKey(server, pin)
}

// clusterEntries lists the cluster Secrets shard keys are read from.
func (r *Reconciler) clusterEntries(ctx context.Context) ([]cluster.Entry, error) {
	if r.opts.Secrets == nil {
		return nil, nil
	}
	return r.registry.List(ctx)
}

// acquire gates one reconcile of app on the replica owning it. An error
// listing cluster Secrets is returned, not guessed around: a key computed
// without the destination's pin could be another replica's.
func (r *Reconciler) acquire(ctx context.Context, app *v1alpha1.Application) (context.Context, func(), bool, error) {
	if r.opts.Shards == nil {
		return ctx, func() {}, true, nil
	}
	entries, err := r.clusterEntries(ctx)
	if err != nil {
		return ctx, nil, false, err
	}
	ctx, done, ok := r.opts.Shards.Acquire(ctx, appKey(app).String(), shardKey(entries, app))
	return ctx, done, ok, nil
}

// shardPass queues the Applications a replica gains when the membership
// changes (and every half minute), and forgets those it loses. A
// controller-runtime Runnable on every replica.
type shardPass struct {
	r       *Reconciler
	changed chan struct{}
	// What the last pass saw: the Applications this replica owned, and the
	// membership.
	owned map[types.NamespacedName]bool
	live  shard.View
}

// ShardsChanged tells the controller that what this replica owns changed
// (shard.LeaseOptions.OnChange).
func (r *Reconciler) ShardsChanged(shard.State) { r.shards.wake() }

// wake has a pass run soon.
func (p *shardPass) wake() {
	select {
	case p.changed <- struct{}{}:
	default: // a pass is due already
	}
}

func (p *shardPass) NeedLeaderElection() bool { return false }

func (p *shardPass) Start(ctx context.Context) error {
	if p.r.opts.Shards == nil {
		return nil
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.changed:
		case <-tick.C:
		}
		if err := p.pass(ctx); err != nil && ctx.Err() == nil {
			p.owned = nil // queue everything owned at the next pass: some may have been dropped meanwhile
			p.r.log.Error(err, "shard pass failed; retrying")
			p.wake()
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
}

// pass queues the Applications owned now and not before, forgets those no
// longer owned, and counts reassignments: Applications whose owner under
// the membership changed, since the last pass's membership, to or from
// this replica (none at the first pass).
func (p *shardPass) pass(ctx context.Context) error {
	apps := &v1alpha1.ApplicationList{}
	if err := p.r.client.List(ctx, apps, client.UnsafeDisableDeepCopy); err != nil {
		return err
	}
	entries, err := p.r.clusterEntries(ctx)
	if err != nil {
		return err
	}
	state := p.r.opts.Shards.State()
	owned := make(map[types.NamespacedName]bool, len(p.owned))
	gained, lost := 0, 0
	for i := range apps.Items {
		app := &apps.Items[i]
		key, k := appKey(app), shardKey(entries, app)
		if p.live != nil {
			switch before, after := p.live.Owner(k), state.Live.Owner(k); {
			case before != state.Self && after == state.Self:
				gained++
			case before == state.Self && after != state.Self:
				lost++
			}
		}
		if !state.Owns(k) {
			if p.owned[key] {
				p.r.tracker.drop(key)
				// Its key may have changed (destination, pin): a reconcile
				// started under the old one stops now.
				p.r.opts.Shards.Release(key.String())
			}
			continue
		}
		owned[key] = true
		if !p.owned[key] && !p.r.local.watcher.enqueue(ctx, key) {
			return ctx.Err()
		}
	}
	p.owned, p.live = owned, state.Live
	p.r.opts.Metrics.Reassigned(gained, lost)
	if gained+lost > 0 {
		p.r.log.Info("shard changed", "shard", state.Self, "members", state.Live.String(), "owned", len(owned), "gained", gained, "lost", lost)
	}
	return nil
}

// refresh has app compared with Git now: queued here when this replica
// owns it, else marked with Argo CD's refresh annotation, which wakes the
// replica that does (a webhook reaches any replica).
func (r *Reconciler) refresh(ctx context.Context, entries []cluster.Entry, app *v1alpha1.Application) bool {
	if r.opts.Shards == nil || r.opts.Shards.State().Owns(shardKey(entries, app)) {
		return r.local.watcher.enqueue(ctx, appKey(app))
	}
	if app.Annotations[refreshAnnotation] != "" {
		return true // asked already (a hard refresh stays hard)
	}
	stub := &v1alpha1.Application{ObjectMeta: metav1.ObjectMeta{Namespace: app.Namespace, Name: app.Name}}
	patch := client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"annotations":{"`+refreshAnnotation+`":"normal"}}}`))
	if err := r.direct.Patch(ctx, stub, patch); err != nil && ctx.Err() == nil {
		r.log.Error(err, "refresh another replica's Application", "application", appKey(app))
	}
	return ctx.Err() == nil
}

// Owned returns whether this replica owns an Application now, and this
// replica's shard state, for the metrics each replica exports of its own
// Applications alone; nil when unsharded.
func (r *Reconciler) Owned(ctx context.Context) (func(*v1alpha1.Application) bool, shard.State) {
	if r.opts.Shards == nil {
		return nil, shard.State{}
	}
	entries, err := r.clusterEntries(ctx)
	state := r.opts.Shards.State()
	return func(app *v1alpha1.Application) bool { return err == nil && state.Owns(shardKey(entries, app)) }, state
}

// destinationMoved passes every event, and, sharded, has the shard pass
// run when an Application's destination changed: its key did, and the
// replica that owned it must stop a reconcile it runs (Release) before
// the new owner starts one.
func (r *Reconciler) destinationMoved() predicate.Predicate {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		before, ok1 := e.ObjectOld.(*v1alpha1.Application)
		after, ok2 := e.ObjectNew.(*v1alpha1.Application)
		if r.opts.Shards != nil && ok1 && ok2 && before.Spec.Destination != after.Spec.Destination {
			r.shards.wake()
		}
		return true
	}}
}

// refreshSeen filters nothing: it tells the tracker when the watch saw an
// Application's refresh annotation come and go. A refresh is answered from
// a Git listing started after it was seen (tracker.refreshAsked), not one
// started after its reconcile began, which may be seconds later in a burst.
// It comes first among the For predicates, so it sees every event.
func (r *Reconciler) refreshSeen() predicate.Predicate {
	see := func(obj client.Object) bool {
		if obj != nil {
			_, asking := obj.GetAnnotations()[refreshAnnotation]
			r.tracker.seeRefresh(client.ObjectKeyFromObject(obj), asking, time.Now())
		}
		return true
	}
	return predicate.Funcs{
		CreateFunc:  func(e event.CreateEvent) bool { return see(e.Object) },
		UpdateFunc:  func(e event.UpdateEvent) bool { return see(e.ObjectNew) },
		GenericFunc: func(e event.GenericEvent) bool { return see(e.Object) },
	}
}
