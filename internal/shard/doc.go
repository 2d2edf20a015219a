// Package shard spreads Applications over controller replicas, with
// Kubernetes Leases as the only coordinator.
//
// Each replica holds a Lease of its own in the home namespace and renews it;
// the Leases still renewed are the membership. An Application is assigned by
// rendezvous (highest random weight) hashing of its Key — the destination
// cluster, or the Application itself for the in-cluster destination, so one
// big cluster is split too — over the members, so a member leaving or
// joining moves only the Applications it loses or wins (about 1/n of them).
//
// Two replicas never reconcile one Application at once. A replica acts on
// the membership it last published in its own Lease (the "view"), and
// publishes a new view only after it stopped the Applications it loses
// under it (their running reconciles cancelled and returned). A replica
// takes an Application only when its own published view and the current
// membership both give it the Application and no other live member's
// published view gives that member the Application. A replica that cannot
// renew its Lease within the renew deadline stops (the process exits), well
// before the others deem the Lease expired; a new process taking over a
// Lease waits until it expires and counts a transition.
//
//	m, _ := shard.NewMembership(client, shard.LeaseOptions{Namespace: "argocd", Identity: pod})
//	mgr.Add(m)
//	ctx, done, ok := m.Acquire(ctx, "argocd/guestbook", key)
//	if !ok { return } // another replica's
//	defer done()
//
// The core (Node, View, State) does no I/O: it is driven by the Leases
// observed and the time, so it is tested with scripted scenarios. Static
// sharding (Argo CD's --shard N --replicas M) is a fixed State.
package shard
