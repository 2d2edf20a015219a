package shard_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api"
	"github.com/ferrycd/ferry/internal/localcluster"
	"github.com/ferrycd/ferry/internal/localcluster/localclustertest"
	"github.com/ferrycd/ferry/internal/shard"
)

// member runs one Membership against the API server with short durations.
type member struct {
	m    *shard.Membership
	done chan error
}

func startMember(t *testing.T, cl client.Client, name string) *member {
	t.Helper()
	m, err := shard.NewMembership(cl, shard.LeaseOptions{Namespace: "argocd", Identity: name,
		LeaseDuration: 3 * time.Second, RenewDeadline: 2 * time.Second, RetryPeriod: 200 * time.Millisecond, Log: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	mb := &member{m: m, done: make(chan error, 1)}
	go func() { mb.done <- m.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-mb.done })
	return mb
}

// keyOf finds an Application key that owner owns among members.
func keyOf(owner string, members ...string) shard.Key {
	v := shard.NewView(members...)
	for i := 0; ; i++ {
		if k := shard.AppKey("argocd", fmt.Sprint("app-", i)); v.Owner(k) == owner {
			return k
		}
	}
}

// TestMembershipHandover against a real API server: a replica keeps
// renewing its Lease while a reconcile it must give up is still running,
// and the replica joining does not take that Application until the
// reconcile returned; a replica whose Lease another process takes stops,
// refusing and cancelling reconciles.
func TestMembershipHandover(t *testing.T) {
	c := localclustertest.Start(t, localcluster.Options{})
	cl, err := client.New(c.AdminConfig(), client.Options{Scheme: api.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "argocd"}}); err != nil {
		t.Fatal(err)
	}
	a := startMember(t, cl, "a")
	k := keyOf("b", "a", "b")
	var cctx context.Context
	var done func()
	localclustertest.Eventually(t, 30*time.Second, "a owning everything alone", func(context.Context) (bool, string) {
		var ok bool
		cctx, done, ok = a.m.Acquire(ctx, "argocd/app", k)
		return ok, fmt.Sprintf("%+v", a.m.State())
	})

	// b joins while a's reconcile of k runs and ignores its cancellation.
	b := startMember(t, cl, "b")
	select {
	case <-cctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("a's reconcile of the key it loses to b was not cancelled")
	}
	lease := &coordinationv1.Lease{}
	key := client.ObjectKey{Namespace: "argocd", Name: shard.LeasePrefix + "a"}
	if err := cl.Get(ctx, key, lease); err != nil {
		t.Fatal(err)
	}
	before := lease.ResourceVersion
	time.Sleep(5 * time.Second) // more than the Lease's duration
	if err := cl.Get(ctx, key, lease); err != nil {
		t.Fatal(err)
	}
	if lease.ResourceVersion == before {
		t.Fatal("a stopped renewing its Lease while a reconcile it gives up runs")
	}
	if _, _, ok := b.m.Acquire(ctx, "argocd/app", k); ok {
		t.Fatal("b took the Application while a still reconciles it")
	}
	if got := lease.Annotations[shard.ViewAnnotation]; got != "a" {
		t.Errorf("a published %q while its reconcile runs, want its old view a", got)
	}
	done()
	localclustertest.Eventually(t, 30*time.Second, "b owning the Application once a's reconcile returned", func(context.Context) (bool, string) {
		_, end, ok := b.m.Acquire(ctx, "argocd/app", k)
		if ok {
			end()
		}
		return ok, fmt.Sprintf("a %+v, b %+v", a.m.State(), b.m.State())
	})

	// Another process takes a's Lease: a stops, refusing and cancelling.
	ka := keyOf("a", "a", "b")
	actx, aend, ok := a.m.Acquire(ctx, "argocd/other", ka)
	if !ok {
		t.Fatalf("a does not own its own key: %+v", a.m.State())
	}
	defer aend()
	if err := cl.Get(ctx, key, lease); err != nil {
		t.Fatal(err)
	}
	lease.Spec.HolderIdentity = ptr.To("someone-else")
	if err := cl.Update(ctx, lease); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		if err == nil || !strings.Contains(err.Error(), "another process holds") {
			t.Errorf("a's membership ended with %v, want the lost Lease", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a kept running after another process took its Lease")
	}
	if actx.Err() == nil {
		t.Error("a's running reconcile was not cancelled when it lost its Lease")
	}
	if _, _, ok := a.m.Acquire(ctx, "argocd/other", ka); ok {
		t.Error("a still starts reconciles after losing its Lease")
	}
}
