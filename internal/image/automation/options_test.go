package automation

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/ferrycd/ferry/api"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
	"github.com/ferrycd/ferry/internal/image/setters"
	"github.com/ferrycd/ferry/internal/netguard"
	"github.com/ferrycd/ferry/internal/source"
)

func policy(name, image, tag string, labels map[string]string) *imagev1.ImagePolicy {
	p := &imagev1.ImagePolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: name, Labels: labels}}
	if tag != "" {
		p.Status.LatestRef = &imagev1.ImageRef{Name: image, Tag: tag}
	}
	return p
}

func TestRunOptions(t *testing.T) {
	repo := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "fleet"},
		Spec: sourcev1.GitRepositorySpec{URL: "https://git.example.com/fleet.git", SecretRef: &sourcev1.LocalObjectReference{Name: "creds"},
			Reference: &sourcev1.GitRepositoryRef{Branch: "main"}, Timeout: &metav1.Duration{Duration: time.Minute}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "flux-system", Name: "creds"},
		Data: map[string][]byte{"username": []byte("bot"), "password": []byte("s3cret")}}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(repo, secret,
		policy("web", "example/web", "1.2.0", map[string]string{"team": "web"}),
		policy("db", "example/db", "3.0", nil),
		policy("new", "example/new", "", map[string]string{"team": "web"})).Build()
	a := &imagev1.ImageUpdateAutomation{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "auto"},
		Spec: imagev1.ImageUpdateAutomationSpec{
			SourceRef: imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet", Namespace: "flux-system"},
			GitSpec: &imagev1.GitSpec{Push: &imagev1.PushSpec{Branch: "auto"},
				Commit: imagev1.CommitSpec{Author: imagev1.CommitUser{Name: "Ferry", Email: "ferry@example.com"}, MessageTemplate: "bump"}},
			Update:         &imagev1.UpdateStrategy{Path: "./apps", Strategy: "Setters"},
			PolicySelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "web"}},
		}}
	if _, err := RunOptions(t.Context(), c, a, Boundary{}); err == nil || !strings.Contains(err.Error(), "--allow-cross-namespace-refs") {
		t.Errorf("cross-namespace sourceRef without the flag: %v, want a refusal naming the flag", err)
	}
	opts, err := RunOptions(t.Context(), c, a, Boundary{AllowCrossNamespace: true})
	if err != nil {
		t.Fatal(err)
	}
	if opts.URL != repo.Spec.URL || opts.CheckoutBranch != "main" || opts.PushBranch != "auto" || opts.Path != "./apps" ||
		opts.Timeout != time.Minute || opts.AuthorName != "Ferry" || opts.MessageTemplate != "bump" || opts.Automation.String() != "apps/auto" {
		t.Errorf("options %+v", opts)
	}
	if b, ok := opts.Auth.(*githttp.BasicAuth); !ok || b.Username != "bot" || b.Password != "s3cret" {
		t.Errorf("auth %#v, want basic auth from the Secret", opts.Auth)
	}
	if !strings.Contains(strings.Join(opts.Secrets, ","), "s3cret") {
		t.Errorf("secrets %q do not list the password", opts.Secrets)
	}
	want := map[string]setters.Image{"apps:web": {Name: "example/web", Tag: "1.2.0"}}
	if !maps.Equal(opts.Images, want) {
		t.Errorf("images %v, want %v (selected, with a pick)", opts.Images, want)
	}
}

func TestRunOptionsDefaults(t *testing.T) {
	repo := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fleet"},
		Spec: sourcev1.GitRepositorySpec{URL: "https://git.example.com/fleet.git"}}
	c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(repo, policy("db", "example/db", "3.0", nil)).Build()
	a := &imagev1.ImageUpdateAutomation{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "auto"},
		Spec: imagev1.ImageUpdateAutomationSpec{SourceRef: imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet"}}}
	opts, err := RunOptions(t.Context(), c, a, Boundary{AllowLocal: true})
	if err != nil {
		t.Fatal(err)
	}
	if opts.CheckoutBranch != "master" || opts.PushBranch != "" || opts.Timeout != DefaultTimeout || opts.Auth != nil || len(opts.Images) != 1 {
		t.Errorf("options %+v", opts)
	}
}

func TestRunOptionsErrors(t *testing.T) {
	repo := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fleet"},
		Spec: sourcev1.GitRepositorySpec{URL: "https://git.example.com/fleet.git", SecretRef: &sourcev1.LocalObjectReference{Name: "missing"}}}
	tests := []struct {
		name    string
		objs    []client.Object
		ref     string
		wantErr string
	}{
		{"no repository", nil, "fleet", "spec.sourceRef apps/fleet"},
		{"no secret", []client.Object{repo}, "fleet", "GitRepository fleet spec.secretRef"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(tt.objs...).Build()
			a := &imagev1.ImageUpdateAutomation{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "auto"},
				Spec: imagev1.ImageUpdateAutomationSpec{SourceRef: imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: tt.ref}}}
			if _, err := RunOptions(t.Context(), c, a, Boundary{AllowLocal: true}); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one naming %q", err, tt.wantErr)
			}
		})
	}
}

// TestRunOptionsBoundary checks the controller's boundaries on the
// GitRepository an automation pushes to: a local path or file:// URL and a
// link-local address are refused with the flag named, and allowed with it.
func TestRunOptionsBoundary(t *testing.T) {
	for _, tt := range []struct {
		url, flag string
		allow     Boundary
	}{
		{"file:///var/cache/ferry/git/other-tenant", "--allow-local-repositories", Boundary{AllowLocal: true}},
		{"/srv/repos/fleet", "--allow-local-repositories", Boundary{AllowLocal: true}},
		{"http://169.254.169.254/latest/meta-data", "--allow-link-local-addresses", Boundary{Net: netguard.Policy{AllowLinkLocal: true}}},
	} {
		repo := &sourcev1.GitRepository{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "fleet"}, Spec: sourcev1.GitRepositorySpec{URL: tt.url}}
		c := fake.NewClientBuilder().WithScheme(api.NewScheme()).WithObjects(repo).Build()
		a := &imagev1.ImageUpdateAutomation{ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "auto"},
			Spec: imagev1.ImageUpdateAutomationSpec{SourceRef: imagev1.CrossNamespaceSourceReference{Kind: "GitRepository", Name: "fleet"}}}
		_, err := RunOptions(t.Context(), c, a, Boundary{})
		if !errors.Is(err, source.ErrRefused) || !strings.Contains(err.Error(), tt.flag) || !strings.Contains(err.Error(), "GitRepository apps/fleet spec.url") {
			t.Errorf("%s: %v, want a refusal naming the GitRepository, its field and %s", tt.url, err, tt.flag)
		}
		if _, err := RunOptions(t.Context(), c, a, tt.allow); err != nil {
			t.Errorf("%s with %+v: %v", tt.url, tt.allow, err)
		}
	}
}
