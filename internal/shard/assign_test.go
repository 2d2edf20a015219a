package shard

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"
)

func keys(n int) []Key {
	out := make([]Key, n)
	for i := range out {
		out[i] = AppKey("argocd", "app-"+strconv.Itoa(i))
	}
	return out
}

// TestOwnerBalanceAndMovement: rendezvous hashing spreads keys evenly and a
// member leaving moves only its own keys; one joining takes only keys it
// then owns.
func TestOwnerBalanceAndMovement(t *testing.T) {
	ks := keys(10000)
	three := NewView("ferry-0", "ferry-1", "ferry-2")
	count := map[string]int{}
	for _, k := range ks {
		count[three.Owner(k)]++
	}
	for _, m := range three {
		if n := count[m]; n < 3000 || n > 3700 {
			t.Errorf("%s owns %d of 10000 keys over 3 members", m, n)
		}
	}
	two := NewView("ferry-0", "ferry-2")
	four := NewView("ferry-0", "ferry-1", "ferry-2", "ferry-3")
	for _, k := range ks {
		if was := three.Owner(k); was != "ferry-1" && two.Owner(k) != was {
			t.Fatalf("%v moved from %s though ferry-1 left", k, was)
		}
		if now := four.Owner(k); now != "ferry-3" && now != three.Owner(k) {
			t.Fatalf("%v moved from %s to %s though only ferry-3 joined", k, three.Owner(k), now)
		}
	}
}

func TestOwnerPinAndStatic(t *testing.T) {
	v := NewView("b", "a", "c", "a")
	if !slices.Equal(v, View{"a", "b", "c"}) {
		t.Fatalf("NewView = %v", v)
	}
	if got := v.Owner(ClusterKey("https://c1", 2)); got != "c" {
		t.Errorf("pin 2 owner = %s, want c", got)
	}
	k := ClusterKey("https://c1", 7) // past the last member: hashed
	if got := v.Owner(k); got != v.Owner(ClusterKey("https://c1", -1)) {
		t.Errorf("pin past the members owner = %s, want the hashed owner", got)
	}
	if (View{}).Owner(k) != "" {
		t.Error("an empty view owns something")
	}
	// Static: shard numbers index the view, 10 after 9.
	s := Static(10, 12)
	if !s.Owns(ClusterKey("https://c1", 10)) || s.Owns(ClusterKey("https://c1", 2)) {
		t.Error("static shard 10 of 12: pins not honoured")
	}
	n := 0
	for _, k := range keys(1200) {
		for i := range 12 {
			if Static(i, 12).Owns(k) {
				n++
			}
		}
	}
	if n != 1200 {
		t.Errorf("12 static shards own %d keys of 1200 in all", n)
	}
	if got := ParseView(v.String()); !slices.Equal(got, v) {
		t.Errorf("ParseView(%q) = %v", v.String(), got)
	}
}

// world is a scripted run of replicas sharing Leases: each step renews a
// member's Lease, observes the others, and changes over as Membership does
// (its running reconciles stop at once here).
type world struct {
	now     time.Time
	version int
	leases  map[string]Observed
	nodes   map[string]*Node
	states  map[string]State // each running member's gate, as last set
	stopped map[string]bool
}

func (w *world) write(m string, v View) {
	w.version++
	w.leases[m] = Observed{Member: m, Holder: m + "_x", Version: strconv.Itoa(w.version), Duration: 15 * time.Second, View: v}
}

func (w *world) step(m string) {
	n := w.nodes[m]
	w.write(m, n.acting)
	list := make([]Observed, 0, len(w.leases))
	for _, l := range w.leases {
		list = append(list, l)
	}
	n.Observe(w.now, list)
	w.states[m] = n.State()
	if next, changed := n.Next(); changed {
		w.write(m, next)
		n.Published(next)
		w.states[m] = n.State()
	}
}

// TestChangeoverNeverOverlaps runs replicas joining, leaving by a crash and
// leaving by release, in random orders, and checks after every single step
// that no key is owned by two running replicas, and that once things
// settle every key has exactly one owner.
func TestChangeoverNeverOverlaps(t *testing.T) {
	ks := keys(300)
	for seed := range uint64(50) {
		rng := rand.New(rand.NewPCG(seed, 1))
		w := &world{now: time.Unix(1e9, 0), leases: map[string]Observed{}, nodes: map[string]*Node{}, states: map[string]State{}, stopped: map[string]bool{}}
		for _, m := range []string{"a", "b", "c"} {
			w.nodes[m] = NewNode(m)
		}
		for round := range 40 {
			switch round {
			case 6:
				w.nodes["d"] = NewNode("d") // joins
			case 14:
				w.stopped["b"] = true // crashes: its Lease is no longer renewed
				delete(w.states, "b")
			case 24:
				w.stopped["c"] = true // stops: it released its Lease
				delete(w.states, "c")
				l := w.leases["c"]
				l.Holder, l.View = "", nil
				w.leases["c"] = l
			}
			order := []string{}
			for m := range w.nodes {
				if !w.stopped[m] {
					order = append(order, m)
				}
			}
			slices.Sort(order)
			rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			for _, m := range order {
				w.step(m)
				for _, k := range ks {
					var owners []string
					for o, s := range w.states {
						if s.Owns(k) {
							owners = append(owners, o)
						}
					}
					if len(owners) > 1 {
						t.Fatalf("seed %d round %d after %s's step: %v owned by %v", seed, round, m, k, owners)
					}
				}
			}
			w.now = w.now.Add(2 * time.Second)
		}
		for _, k := range ks {
			n := 0
			for _, s := range w.states {
				if s.Owns(k) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("seed %d: settled with %v owned by %d replicas (states %v)", seed, k, n, fmt.Sprint(w.states))
			}
		}
	}
}
