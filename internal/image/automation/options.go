// Package automation reads what one run of a Flux ImageUpdateAutomation
// needs from the cluster: its GitRepository and that repository's
// credentials (Flux's Secret format), the branches, and the images its
// policies picked. The ImageUpdateAutomation controller and
// `ferry image update --dry-run` both build a run with RunOptions, so a dry
// run shows exactly what the controller would commit.
package automation

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
	"github.com/ferrycd/ferry/internal/image/gitupdate"
	"github.com/ferrycd/ferry/internal/image/setters"
	"github.com/ferrycd/ferry/internal/netguard"
	"github.com/ferrycd/ferry/internal/source"
)

// DefaultTimeout bounds a run whose GitRepository sets no spec.timeout: a
// stalled Git server must not hold the worker.
const DefaultTimeout = 2 * time.Minute

// Boundary is what an automation may reach; the zero value is the safe
// default.
type Boundary struct {
	// AllowCrossNamespace lets sourceRef name another namespace's
	// GitRepository (and so push with that namespace's Secret).
	AllowCrossNamespace bool
	// AllowLocal lets the GitRepository's URL name the controller's disk.
	AllowLocal bool
	// Net says which addresses the Git server may be at.
	Net netguard.Policy
}

// check refuses a GitRepository the boundary does not let the automation
// use; the error names the field and the flag that would allow it.
func (b Boundary) check(ctx context.Context, repo *sourcev1.GitRepository) error {
	norm, err := source.NormalizeURL(repo.Spec.URL)
	if err != nil {
		return fmt.Errorf("GitRepository %s/%s spec.url: %w", repo.Namespace, repo.Name, err)
	}
	if err := source.RefuseLocal(norm, b.AllowLocal); err != nil {
		return fmt.Errorf("GitRepository %s/%s spec.url: %w", repo.Namespace, repo.Name, err)
	}
	if err := b.Net.CheckURL(ctx, norm); err != nil {
		return fmt.Errorf("GitRepository %s/%s spec.url: %w", repo.Namespace, repo.Name, err)
	}
	return nil
}

// RunOptions gathers a run's inputs: the GitRepository and its
// credentials, the branches, and the images the namespace's policies
// picked. Errors name the field at fault.
func RunOptions(ctx context.Context, c client.Reader, a *imagev1.ImageUpdateAutomation, b Boundary) (gitupdate.Options, error) {
	ref := a.Spec.SourceRef
	ns := ref.Namespace
	if ns == "" {
		ns = a.Namespace
	}
	if ns != a.Namespace && !b.AllowCrossNamespace {
		return gitupdate.Options{}, fmt.Errorf("spec.sourceRef.namespace %s: %w: cross-namespace references are refused unless the controller runs with --allow-cross-namespace-refs", ns, source.ErrRefused)
	}
	repo := &sourcev1.GitRepository{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.Name}, repo); err != nil {
		return gitupdate.Options{}, fmt.Errorf("spec.sourceRef %s/%s: %w", ns, ref.Name, err)
	}
	if err := b.check(ctx, repo); err != nil {
		return gitupdate.Options{}, err
	}
	opts := gitupdate.Options{URL: repo.Spec.URL, Automation: types.NamespacedName{Namespace: a.Namespace, Name: a.Name},
		Timeout: DefaultTimeout}
	if t := repo.Spec.Timeout; t != nil && t.Duration > 0 {
		opts.Timeout = t.Duration
	}
	var err error
	if opts.Auth, opts.Secrets, err = auth(ctx, c, repo); err != nil {
		return opts, err
	}
	if g := a.Spec.GitSpec; g != nil {
		if g.Checkout != nil {
			opts.CheckoutBranch = g.Checkout.Reference.Branch
		}
		if g.Push != nil {
			opts.PushBranch = g.Push.Branch
		}
		opts.AuthorName, opts.AuthorEmail = g.Commit.Author.Name, g.Commit.Author.Email
		opts.MessageTemplate, opts.Values = g.Commit.MessageTemplate, g.Commit.MessageTemplateValues
	}
	if opts.CheckoutBranch == "" && repo.Spec.Reference != nil {
		opts.CheckoutBranch = repo.Spec.Reference.Branch
	}
	if opts.CheckoutBranch == "" {
		opts.CheckoutBranch = "master" // Flux's default for a GitRepository without ref
	}
	if u := a.Spec.Update; u != nil {
		opts.Path = u.Path
	}
	opts.Images, err = images(ctx, c, a)
	return opts, err
}

// images are the latest images of the automation's policies, by
// "namespace:name".
func images(ctx context.Context, c client.Reader, a *imagev1.ImageUpdateAutomation) (map[string]setters.Image, error) {
	sel := labels.Everything()
	if a.Spec.PolicySelector != nil {
		var err error
		if sel, err = metav1.LabelSelectorAsSelector(a.Spec.PolicySelector); err != nil {
			return nil, fmt.Errorf("spec.policySelector: %w", err)
		}
	}
	list := &imagev1.ImagePolicyList{}
	if err := c.List(ctx, list, client.InNamespace(a.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, fmt.Errorf("list ImagePolicies in %s: %w", a.Namespace, err)
	}
	out := map[string]setters.Image{}
	for _, p := range list.Items {
		if l := p.Status.LatestRef; l != nil && l.Tag != "" {
			out[p.Namespace+":"+p.Name] = setters.Image{Name: l.Name, Tag: l.Tag}
		}
	}
	return out, nil
}

// auth reads the GitRepository's Secret in Flux's format: username and
// password, or bearerToken, for HTTP(S); identity (and known_hosts) for SSH.
// It returns the secret values to keep out of errors.
func auth(ctx context.Context, c client.Reader, repo *sourcev1.GitRepository) (transport.AuthMethod, []string, error) {
	if repo.Spec.SecretRef == nil {
		return nil, nil, nil
	}
	s := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: repo.Namespace, Name: repo.Spec.SecretRef.Name}, s); err != nil {
		return nil, nil, fmt.Errorf("GitRepository %s spec.secretRef: %w", repo.Name, err)
	}
	d := s.Data
	secrets := []string{string(d["password"]), string(d["bearerToken"])}
	if strings.HasPrefix(repo.Spec.URL, "ssh://") || strings.Contains(repo.Spec.URL, "@") && !strings.Contains(repo.Spec.URL, "://") {
		keys, err := gitssh.NewPublicKeys("git", d["identity"], string(d["password"]))
		if err != nil {
			return nil, secrets, fmt.Errorf("GitRepository %s: ssh identity: %w", repo.Name, err)
		}
		if kh := d["known_hosts"]; len(kh) > 0 {
			if keys.HostKeyCallback, err = knownHosts(kh); err != nil {
				return nil, secrets, fmt.Errorf("GitRepository %s: known_hosts: %w", repo.Name, err)
			}
		}
		return keys, secrets, nil
	}
	if tok := d["bearerToken"]; len(tok) > 0 {
		return &githttp.TokenAuth{Token: string(tok)}, secrets, nil
	}
	if len(d["username"]) > 0 || len(d["password"]) > 0 {
		return &githttp.BasicAuth{Username: string(d["username"]), Password: string(d["password"])}, secrets, nil
	}
	return nil, secrets, nil
}

// knownHosts builds a host key check from known_hosts data (go-git reads
// it from a file only).
func knownHosts(data []byte) (ssh.HostKeyCallback, error) {
	f, err := os.CreateTemp("", "ferry-known-hosts-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return gitssh.NewKnownHostsCallback(f.Name())
}
