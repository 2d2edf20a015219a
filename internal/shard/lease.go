package shard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// LeasePrefix starts every shard Lease's name; the rest is the member.
	LeasePrefix = "ferry-shard-"
	// LeaseLabel marks shard Leases, to list them.
	LeaseLabel = "shard.ferry.dev/lease"
	// ViewAnnotation holds the view a member published.
	ViewAnnotation = "shard.ferry.dev/view"
)

// LeaseOptions configure a Membership. The durations default to
// controller-runtime's leader election's: 15 s, 10 s, 2 s.
type LeaseOptions struct {
	// Namespace holds the Leases (the home namespace).
	Namespace string
	// Identity is the member's name: the Pod's name in a Deployment.
	Identity string
	// LeaseDuration is how long the others wait, after a Lease last
	// changed, before they deem its member gone.
	LeaseDuration time.Duration
	// RenewDeadline is how long a member keeps working without renewing
	// its Lease; then it stops (Start returns an error). Shorter than
	// LeaseDuration, so it stops before the others take over.
	RenewDeadline time.Duration
	// RetryPeriod is how often the Lease is renewed and the others read.
	RetryPeriod time.Duration
	// OnChange is called, from the membership's goroutine, after what the
	// replica may reconcile changed.
	OnChange func(State)
	// Log receives membership changes.
	Log logr.Logger
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Membership is one replica's shard Lease and the gate of its reconciles:
// a controller-runtime Runnable that runs on every replica.
type Membership struct {
	c      client.Client
	opts   LeaseOptions
	name   string // the Lease's
	holder string // this process: identity and a random suffix
	node   *Node

	mu       sync.Mutex
	state    State
	closing  bool
	inflight map[string]*flight
	lease    *coordinationv1.Lease // own, as last written
}

type flight struct {
	key    Key
	cancel context.CancelFunc
	done   chan struct{}
}

// NewMembership makes the membership of opts.Identity.
func NewMembership(c client.Client, opts LeaseOptions) (*Membership, error) {
	if opts.LeaseDuration <= 0 {
		opts.LeaseDuration = 15 * time.Second
	}
	if opts.RenewDeadline <= 0 {
		opts.RenewDeadline = 10 * time.Second
	}
	if opts.RetryPeriod <= 0 {
		opts.RetryPeriod = 2 * time.Second
	}
	if opts.RenewDeadline >= opts.LeaseDuration {
		return nil, fmt.Errorf("shard lease: renew deadline %s must be shorter than the lease duration %s", opts.RenewDeadline, opts.LeaseDuration)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	name := LeasePrefix + opts.Identity
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 || strings.Contains(opts.Identity, ",") {
		return nil, fmt.Errorf("shard identity %q does not make a Lease name: %s", opts.Identity, strings.Join(errs, "; "))
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	return &Membership{c: c, opts: opts, name: name, holder: opts.Identity + "_" + hex.EncodeToString(suffix),
		node: NewNode(opts.Identity), inflight: map[string]*flight{}}, nil
}

// NeedLeaderElection is false: every replica holds its own Lease.
func (m *Membership) NeedLeaderElection() bool { return false }

// State is what the replica may reconcile now.
func (m *Membership) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Acquire starts a reconcile of name (an Application, namespace/name),
// assigned by key: ok is false when the replica does not own it now. The
// context is cancelled when the replica must give the Application up;
// done ends the reconcile.
func (m *Membership) Acquire(ctx context.Context, name string, key Key) (context.Context, func(), bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closing || !m.state.Owns(key) {
		return ctx, func() {}, false
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &flight{key: key, cancel: cancel, done: make(chan struct{})}
	m.inflight[name] = f
	return ctx, func() {
		cancel()
		m.mu.Lock()
		if m.inflight[name] == f {
			delete(m.inflight, name)
		}
		m.mu.Unlock()
		close(f.done)
	}, true
}

// Release cancels the running reconcile of name, if any: its key changed
// (a new destination, a cluster's shard pin) and another replica may own
// it now. The reconcile's done still ends it.
func (m *Membership) Release(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f, ok := m.inflight[name]; ok {
		f.cancel()
	}
}

// stop refuses every reconcile from now on and cancels the running ones:
// the Lease is lost, or about to be deemed expired by the others.
func (m *Membership) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closing = true
	for _, f := range m.inflight {
		f.cancel()
	}
}

// Start takes the replica's Lease, then renews it and follows the others'
// until ctx ends; it returns an error when the Lease was lost or could not
// be renewed in time, which must stop the process. Each step's calls are
// bounded by the renew deadline, so a hung API call stops the replica
// too, and no step waits for reconciles: renewal never lags behind them.
func (m *Membership) Start(ctx context.Context) error {
	if err := m.acquireLease(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	m.opts.Log.Info("shard lease held", "lease", m.name, "holder", m.holder)
	renewed := m.opts.Now()
	tick := time.NewTicker(m.opts.RetryPeriod)
	defer tick.Stop()
	for {
		at, err := m.step(ctx, renewed.Add(m.opts.RenewDeadline))
		switch {
		case err == nil:
			renewed = at
		case ctx.Err() != nil:
		case errors.Is(err, errLost):
			m.stop()
			return err
		case m.opts.Now().Sub(renewed) >= m.opts.RenewDeadline:
			m.stop()
			return fmt.Errorf("shard lease %s/%s not renewed for %s (stopping before another replica takes its Applications): %w",
				m.opts.Namespace, m.name, m.opts.RenewDeadline, err)
		default:
			m.opts.Log.Error(err, "shard lease step failed; retrying")
		}
		select {
		case <-ctx.Done():
			return m.release()
		case <-tick.C:
		}
	}
}

var errLost = errors.New("another process holds this replica's shard Lease")

// staleAfter is how long a Lease no member renews stays: then the members
// delete it (a crashed replica's; a Deployment's pods get new names).
const staleAfter = 10 * time.Minute

// step renews the Lease, reads the others', and changes over to a new
// membership: it cancels the reconciles of what leaves at once, and
// publishes the new view at the first step they have all returned by.
// It returns when the renewal was sent; every call ends by deadline.
func (m *Membership) step(ctx context.Context, deadline time.Time) (time.Time, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	at := m.opts.Now()
	if err := m.write(ctx, m.node.acting.String()); err != nil {
		return at, err
	}
	list := &coordinationv1.LeaseList{}
	if err := m.c.List(ctx, list, client.InNamespace(m.opts.Namespace), client.HasLabels{LeaseLabel}); err != nil {
		return at, fmt.Errorf("list shard Leases in %s: %w", m.opts.Namespace, err)
	}
	now := m.opts.Now()
	m.node.Observe(now, observe(list.Items))
	m.setState(m.node.State())
	if next, changed := m.node.Next(); changed && m.settled() {
		if err := m.write(ctx, next.String()); err != nil {
			return at, err
		}
		m.opts.Log.Info("shard view published", "members", next.String())
		m.node.Published(next)
		m.setState(m.node.State())
	}
	m.deleteStale(ctx, list.Items, m.node.Stale(now, staleAfter))
	return at, nil
}

// settled says whether no reconcile of what the replica no longer owns is
// running (setState cancelled them).
func (m *Membership) settled() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.inflight {
		if !m.state.Owns(f.key) {
			return false
		}
	}
	return true
}

// deleteStale deletes the Leases of members gone for good, each only as
// it was read (a member taking it back in between keeps it).
func (m *Membership) deleteStale(ctx context.Context, leases []coordinationv1.Lease, stale []string) {
	for i := range leases {
		l := &leases[i]
		member, _ := strings.CutPrefix(l.Name, LeasePrefix)
		if !slices.Contains(stale, member) {
			continue
		}
		err := m.c.Delete(ctx, l, client.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion})
		if err == nil {
			m.opts.Log.Info("stale shard lease deleted", "lease", l.Name)
		}
	}
}

// observe reads the shard Leases.
func observe(leases []coordinationv1.Lease) []Observed {
	out := make([]Observed, 0, len(leases))
	for i := range leases {
		l := &leases[i]
		member, ok := strings.CutPrefix(l.Name, LeasePrefix)
		if !ok {
			continue
		}
		o := Observed{Member: member, Holder: ptr.Deref(l.Spec.HolderIdentity, ""), Version: l.ResourceVersion,
			Duration: time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0)) * time.Second, View: ParseView(l.Annotations[ViewAnnotation])}
		out = append(out, o)
	}
	return out
}

// setState installs what the replica may reconcile, cancels the running
// reconciles of what it no longer owns, and tells OnChange.
func (m *Membership) setState(s State) {
	m.mu.Lock()
	changed := !m.state.Equal(s)
	m.state = s
	for _, f := range m.inflight {
		if !s.Owns(f.key) {
			f.cancel()
		}
	}
	m.mu.Unlock()
	if changed && m.opts.OnChange != nil {
		m.opts.OnChange(s)
	}
}

// waitAll waits until every running reconcile returned (stop cancelled
// them). A sync cut short is resumed by its next owner (its state is in
// the Application's status and its hooks' annotations).
func (m *Membership) waitAll(ctx context.Context) error {
	m.mu.Lock()
	wait := make([]*flight, 0, len(m.inflight))
	for _, f := range m.inflight {
		wait = append(wait, f)
	}
	m.mu.Unlock()
	for _, f := range wait {
		select {
		case <-f.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// write renews the Lease with view as its published view.
func (m *Membership) write(ctx context.Context, view string) error {
	l := m.lease.DeepCopy()
	now := metav1.NewMicroTime(m.opts.Now())
	l.Spec.RenewTime = &now
	if view == "" {
		delete(l.Annotations, ViewAnnotation)
	} else {
		if l.Annotations == nil {
			l.Annotations = map[string]string{}
		}
		l.Annotations[ViewAnnotation] = view
	}
	err := m.c.Update(ctx, l)
	if apierrors.IsConflict(err) || apierrors.IsNotFound(err) {
		cur := &coordinationv1.Lease{}
		if gerr := m.c.Get(ctx, client.ObjectKeyFromObject(l), cur); gerr == nil && ptr.Deref(cur.Spec.HolderIdentity, "") == m.holder {
			m.lease = cur // someone else touched it; still ours: retried next step
		} else if gerr == nil || apierrors.IsNotFound(gerr) {
			return fmt.Errorf("shard lease %s/%s: %w", m.opts.Namespace, m.name, errLost)
		}
		return fmt.Errorf("renew shard lease %s/%s: %w", m.opts.Namespace, m.name, err)
	}
	if err != nil {
		return fmt.Errorf("renew shard lease %s/%s: %w", m.opts.Namespace, m.name, err)
	}
	m.lease = l
	return nil
}

// acquireLease creates the replica's Lease, or takes it over once its last
// holder released it or stopped renewing it for its duration (a restarted
// replica: the process before it may still be finishing work until then).
func (m *Membership) acquireLease(ctx context.Context) error {
	var seenVersion string
	var seenAt time.Time
	for {
		l := &coordinationv1.Lease{}
		err := m.c.Get(ctx, client.ObjectKey{Namespace: m.opts.Namespace, Name: m.name}, l)
		now := m.opts.Now()
		switch {
		case apierrors.IsNotFound(err):
			l = m.newLease(now)
			if err = m.c.Create(ctx, l); err == nil {
				m.lease = l
				return nil
			}
		case err == nil:
			if l.ResourceVersion != seenVersion {
				seenVersion, seenAt = l.ResourceVersion, now
			}
			expired := now.Sub(seenAt) >= time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, 0))*time.Second
			if ptr.Deref(l.Spec.HolderIdentity, "") == "" || expired {
				m.takeOver(l, now)
				if err = m.c.Update(ctx, l); err == nil {
					m.lease = l
					return nil
				}
			}
		}
		if err != nil && !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			m.opts.Log.Error(err, "take shard lease", "lease", m.name)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(m.opts.RetryPeriod):
		}
	}
}

func (m *Membership) newLease(now time.Time) *coordinationv1.Lease {
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: m.name, Namespace: m.opts.Namespace}}
	m.takeOver(l, now) // labels it
	l.Spec.LeaseTransitions = ptr.To[int32](0)
	return l
}

// takeOver makes l this process's, with a new transition and no published
// view: the process publishes its own once it has one.
func (m *Membership) takeOver(l *coordinationv1.Lease, now time.Time) {
	t := metav1.NewMicroTime(now)
	l.Spec.HolderIdentity = ptr.To(m.holder)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(m.opts.LeaseDuration / time.Second))
	l.Spec.AcquireTime, l.Spec.RenewTime = &t, &t
	l.Spec.LeaseTransitions = ptr.To(ptr.Deref(l.Spec.LeaseTransitions, 0) + 1)
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	if l.Labels == nil {
		l.Labels = map[string]string{}
	}
	l.Labels[LeaseLabel] = "true"
	delete(l.Annotations, ViewAnnotation)
}

// release stops every reconcile, then deletes the Lease, so the others
// take over at their next step instead of after the Lease's duration.
func (m *Membership) release() error {
	if m.lease == nil {
		return nil
	}
	m.stop()
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.RenewDeadline)
	defer cancel()
	if err := m.waitAll(ctx); err != nil {
		return fmt.Errorf("shard lease %s/%s kept: reconciles still running at shutdown: %w", m.opts.Namespace, m.name, err)
	}
	// Deleted, not emptied: the others see the member gone at their next
	// list, and no Lease is left behind by a pod that will not return.
	l := m.lease
	if err := m.c.Delete(ctx, l, client.Preconditions{UID: &l.UID, ResourceVersion: &l.ResourceVersion}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("release shard lease %s/%s: %w", m.opts.Namespace, m.name, err)
	}
	m.opts.Log.Info("shard lease released", "lease", m.name)
	return nil
}
