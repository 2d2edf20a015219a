package shard

import (
	"context"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
)

// Key is what an Application is assigned by.
type Key struct {
	// ID is hashed: the destination cluster's server URL, or, for the
	// in-cluster destination, the Application's namespace/name (AppKey).
	ID string
	// Pin is the destination cluster Secret's shard field (Argo CD's): the
	// index of the member that manages the cluster; -1 when unset. A pin
	// past the last member falls back to hashing.
	Pin int
}

// ClusterKey is the Key of an Application whose destination is a
// registered cluster: every Application of the cluster goes to one member,
// which alone connects to and watches that cluster.
func ClusterKey(server string, pin int) Key { return Key{ID: "cluster:" + server, Pin: pin} }

// AppKey is the Key of an Application deployed to the cluster Ferry runs
// in: assigned one by one, so a single big cluster is split too.
func AppKey(namespace, name string) Key { return Key{ID: "app:" + namespace + "/" + name, Pin: -1} }

// View is a membership: the members in shard order (Leases: sorted by
// name; static: shard 0 to M-1), which is what a Pin indexes.
type View []string

// NewView sorts members into a View.
func NewView(members ...string) View {
	v := slices.Clone(members)
	slices.Sort(v)
	return slices.Compact(v)
}

// Owner is the member k is assigned to: the pinned one, else the member
// with the highest weight for k (rendezvous hashing); "" for an empty view.
func (v View) Owner(k Key) string {
	if len(v) == 0 {
		return ""
	}
	if k.Pin >= 0 && k.Pin < len(v) {
		return v[k.Pin]
	}
	best, bestWeight := "", uint64(0)
	for _, m := range v {
		if w := weight(m, k.ID); best == "" || w > bestWeight || (w == bestWeight && m < best) {
			best, bestWeight = m, w
		}
	}
	return best
}

// Has says whether m is a member.
func (v View) Has(m string) bool { return slices.Contains(v, m) }

// String is the view as published in a Lease: members joined by commas.
func (v View) String() string { return strings.Join(v, ",") }

// ParseView reads a published view.
func ParseView(s string) View {
	if s == "" {
		return nil
	}
	return NewView(strings.Split(s, ",")...)
}

// weight is member's rendezvous weight for id: FNV-1a over both, mixed by
// splitmix64's finalizer, since FNV alone spreads similar short strings
// poorly. Stable across processes and versions: changing it moves every
// Application at the next upgrade.
func weight(member, id string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(member))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(id))
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// State is what one replica may reconcile, at one moment.
type State struct {
	// Self is this replica's member name.
	Self string
	// Acting is the view this replica published: it acts on no other.
	Acting View
	// Live is the membership now; differs from Acting while this replica
	// changes over.
	Live View
	// Claims are the other live members' published views.
	Claims map[string]View
}

// Owns says whether the replica may reconcile k now: it is k's owner under
// both the view it published and the membership now, and no other live
// member's published view gives k to that member (it may still be
// finishing k).
func (s State) Owns(k Key) bool {
	if s.Self == "" || s.Acting.Owner(k) != s.Self || s.Live.Owner(k) != s.Self {
		return false
	}
	for m, v := range s.Claims {
		if m != s.Self && v.Owner(k) == m {
			return false
		}
	}
	return true
}

// Leaving says whether k is reconciled under the view this replica acts on
// but not under the membership now: what it must stop before publishing.
func (s State) Leaving(k Key) bool {
	return s.Acting.Owner(k) == s.Self && s.Live.Owner(k) != s.Self
}

// Equal compares two states.
func (s State) Equal(o State) bool {
	if s.Self != o.Self || !slices.Equal(s.Acting, o.Acting) || !slices.Equal(s.Live, o.Live) || len(s.Claims) != len(o.Claims) {
		return false
	}
	for m, v := range s.Claims {
		if w, ok := o.Claims[m]; !ok || !slices.Equal(v, w) {
			return false
		}
	}
	return true
}

// Static is Argo CD's static sharding (--shard N --replicas M): shard
// replica of replicas, fixed; nothing is coordinated, so two processes
// given the same shard both act (as in Argo CD).
func Static(shard, replicas int) State {
	v := make(View, replicas)
	for i := range v {
		v[i] = strconv.Itoa(i)
	}
	return State{Self: strconv.Itoa(shard), Acting: v, Live: v}
}

// Gate is what the Application controller asks before each reconcile:
// a Membership (Leases) or a fixed State (static sharding).
type Gate interface {
	// Acquire starts a reconcile of name, assigned by key; ok is false
	// when the replica does not own it now. done ends the reconcile.
	Acquire(ctx context.Context, name string, key Key) (_ context.Context, done func(), ok bool)
	// State is what the replica may reconcile now.
	State() State
	// Release cancels the running reconcile of name, whose key changed.
	Release(name string)
}

// Acquire serves a fixed State as a Gate.
func (s State) Acquire(ctx context.Context, _ string, key Key) (context.Context, func(), bool) {
	return ctx, func() {}, s.Owns(key)
}

// State serves a fixed State as a Gate.
func (s State) State() State { return s }

// Release serves a fixed State as a Gate: a static shard tracks no
// reconcile (two static shards are not fenced, as in Argo CD).
func (State) Release(string) {}
