package shard

import "time"

// Observed is one shard Lease as listed.
type Observed struct {
	// Member is the member the Lease is for (its name without the prefix).
	Member string
	// Holder is the Lease's holderIdentity: the process holding it; ""
	// once released.
	Holder string
	// Version is the Lease's resourceVersion: it changes at each renewal.
	Version string
	// Duration is the Lease's leaseDurationSeconds.
	Duration time.Duration
	// View is the view the member published.
	View View
}

// Node is one replica's membership, driven by the Leases it lists and the
// time, as client-go's leader election reads a Lease: a Lease is live
// while it changed, as seen by this process's clock, within its duration,
// so clocks that disagree do not matter; only their rates do.
type Node struct {
	self   string
	seen   map[string]sighting
	acting View
	live   View
	claims map[string]View
}

type sighting struct {
	Observed
	at time.Time // when this process saw Version first
}

// NewNode starts the membership of member self, which has published
// nothing yet.
func NewNode(self string) *Node {
	return &Node{self: self, seen: map[string]sighting{}, live: View{self}}
}

// Observe updates the membership from the Leases listed at now; self is a
// member whatever the list says (the replica stops before its own Lease
// can expire).
func (n *Node) Observe(now time.Time, leases []Observed) {
	seen := make(map[string]sighting, len(leases))
	live, claims := []string{n.self}, map[string]View{}
	for _, l := range leases {
		if l.Member == n.self {
			continue
		}
		s := sighting{Observed: l, at: now}
		if prev, ok := n.seen[l.Member]; ok && prev.Version == l.Version && prev.Holder == l.Holder {
			s.at = prev.at
		}
		seen[l.Member] = s
		// A released Lease (no holder): its replica stopped everything first.
		if l.Holder != "" && now.Sub(s.at) < l.Duration {
			live = append(live, l.Member)
			claims[l.Member] = l.View
		}
	}
	n.seen, n.live, n.claims = seen, NewView(live...), claims
}

// Stale lists the members whose Lease nobody has renewed (or which was
// released) for longer than after, as this process saw them.
func (n *Node) Stale(now time.Time, after time.Duration) []string {
	var out []string
	for m, s := range n.seen {
		if now.Sub(s.at) > after {
			out = append(out, m)
		}
	}
	return out
}

// State is what the replica may reconcile now.
func (n *Node) State() State {
	return State{Self: n.self, Acting: n.acting, Live: n.live, Claims: n.claims}
}

// Next is the view to publish once what leaves was stopped, and whether it
// differs from the one published.
func (n *Node) Next() (View, bool) {
	return n.live, n.acting.String() != n.live.String()
}

// Published records that v is now the replica's published view.
func (n *Node) Published(v View) { n.acting = v }
