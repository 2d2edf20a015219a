package image_test

import (
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
)

// TestBadDurationsRefusedAtAdmission: intervals and timeouts follow Flux's
// CRD patterns, so an object with a duration Go cannot parse is refused by
// the API server, naming the field, instead of being stored and then
// failing every typed list of its kind (and with it the controller's
// cache). Good objects next to it are listed as usual.
func TestBadDurationsRefusedAtAdmission(t *testing.T) {
	ctx := t.Context()
	const ns = "durations"
	createNamespace(ctx, t, ns)
	obj := func(apiVersion, kind, name string, spec map[string]any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{"spec": spec}}
		u.SetAPIVersion(apiVersion)
		u.SetKind(kind)
		u.SetNamespace(ns)
		u.SetName(name)
		return u
	}
	src := map[string]any{"kind": "GitRepository", "name": "repo"}
	bad := []struct {
		obj   *unstructured.Unstructured
		field string
	}{
		{obj("source.toolkit.fluxcd.io/v1", "GitRepository", "bad-interval", map[string]any{"url": "https://git.example.com/x", "interval": "5 minutes"}), "spec.interval"},
		{obj("source.toolkit.fluxcd.io/v1", "GitRepository", "bad-timeout", map[string]any{"url": "https://git.example.com/x", "interval": "1m", "timeout": "1h"}), "spec.timeout"},
		{obj("image.toolkit.fluxcd.io/v1beta2", "ImageRepository", "bad-interval", map[string]any{"image": "example/app", "interval": "often"}), "spec.interval"},
		{obj("image.toolkit.fluxcd.io/v1", "ImageRepository", "bad-timeout", map[string]any{"image": "example/app", "interval": "1m", "timeout": "-5s"}), "spec.timeout"},
		{obj("image.toolkit.fluxcd.io/v1beta2", "ImageUpdateAutomation", "bad-interval", map[string]any{"sourceRef": src, "interval": "1d"}), "spec.interval"},
	}
	for _, b := range bad {
		err := env.Client.Create(ctx, b.obj)
		if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), b.field) {
			t.Errorf("create %s %s: %v, want Invalid naming %s", b.obj.GetKind(), b.obj.GetName(), err, b.field)
		}
	}
	good := []*unstructured.Unstructured{
		obj("source.toolkit.fluxcd.io/v1", "GitRepository", "good", map[string]any{"url": "https://git.example.com/x", "interval": "1m0s", "timeout": "90s"}),
		obj("image.toolkit.fluxcd.io/v1beta2", "ImageRepository", "good", map[string]any{"image": "example/app", "interval": "1.5h", "timeout": "500ms"}),
		obj("image.toolkit.fluxcd.io/v1beta2", "ImageUpdateAutomation", "good", map[string]any{"sourceRef": src, "interval": "30m"}),
	}
	for _, g := range good {
		if err := env.Client.Create(ctx, g); err != nil {
			t.Errorf("create %s %s: %v", g.GetKind(), g.GetName(), err)
		}
	}
	repos := &sourcev1.GitRepositoryList{}
	if err := env.Client.List(ctx, repos); err != nil {
		t.Errorf("list GitRepositories: %v", err)
	}
	images := &imagev1.ImageRepositoryList{}
	if err := env.Client.List(ctx, images); err != nil {
		t.Errorf("list ImageRepositories: %v", err)
	}
	autos := &imagev1.ImageUpdateAutomationList{}
	if err := env.Client.List(ctx, autos); err != nil {
		t.Errorf("list ImageUpdateAutomations: %v", err)
	}
}
