package source

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/internal/chartrepo"
)

// Argo CD's repository Secrets: a Secret labelled
// argocd.argoproj.io/secret-type=repository holds the credentials of one
// repository (key url); secret-type=repo-creds holds credentials for every
// repository under its url (credsCover).
const (
	secretTypeLabel     = "argocd.argoproj.io/secret-type"
	secretTypeRepo      = "repository"
	secretTypeRepoCreds = "repo-creds"
)

// RepositorySecrets reads Argo CD's repository Secrets in one namespace,
// for Git repositories (Credentials, Scoped) and Helm chart repositories
// (HelmCredentials).
// A Secret with a project key serves that AppProject's Applications alone
// (Argo CD's project-scoped repositories): for a project, its own Secrets
// come first, then the unscoped ones; Secrets of other projects are never
// used. Secrets are listed by label when a repository is cloned or fetched
// (once per poll interval per repository), so a rotated Secret takes effect
// at the next fetch.
type RepositorySecrets struct {
	Reader    client.Reader
	Namespace string
}

// Credentials implements CredentialsFunc.
func (s RepositorySecrets) Credentials(ctx context.Context, repoURL, project string) (*Credentials, error) {
	best, err := s.find(ctx, repoURL, project)
	if err != nil || best == nil {
		return nil, err
	}
	insecure, _ := strconv.ParseBool(string(best.Data["insecure"]))
	return &Credentials{
		Username: string(best.Data["username"]), Password: string(best.Data["password"]),
		SSHPrivateKey: best.Data["sshPrivateKey"], InsecureSkipTLS: insecure, InsecureIgnoreHostKey: insecure,
	}, nil
}

// HelmCredentials implements chartrepo.CredentialsFunc: the credentials
// of a Helm chart repository (https://, http://, oci://, or Argo CD's
// host/path form of an OCI registry) from the same Secrets, with keys
// username, password, insecure and enableOCI. As in Argo CD, Secrets match
// by URL whatever their type key says (helm, git or none): a Git Secret for
// https://host/charts gives its password to a Helm repository at that URL.
// repo-creds templates cover a repository at URL boundaries (credsCover),
// oci://host/path and host/path being one registry path; the project rules
// are Credentials'.
func (s RepositorySecrets) HelmCredentials(ctx context.Context, repoURL, project string) (*chartrepo.Credentials, error) {
	want, err := helmKey(repoURL)
	if err != nil {
		return nil, err
	}
	best, err := s.match(ctx, want, project, helmKey, credsCover)
	if err != nil || best == nil {
		return nil, err
	}
	insecure, _ := strconv.ParseBool(strings.TrimSpace(string(best.Data["insecure"])))
	enableOCI, _ := strconv.ParseBool(strings.TrimSpace(string(best.Data["enableOCI"])))
	return &chartrepo.Credentials{
		Username: string(best.Data["username"]), Password: string(best.Data["password"]),
		InsecureSkipTLS: insecure, EnableOCI: enableOCI,
	}, nil
}

// helmKey is chartrepo.NormalizeURL with Argo CD's host/path form of an
// OCI registry written oci://host/path, so that both spellings match each
// other and credsCover compares them at URL boundaries.
func helmKey(rawURL string) (string, error) {
	norm, err := chartrepo.NormalizeURL(rawURL)
	if err != nil {
		return "", err
	}
	if !strings.Contains(norm, "://") {
		norm = "oci://" + norm
	}
	return norm, nil
}

// Scoped implements ScopeFunc: whether project reads repoURL with a Secret
// scoped to it.
func (s RepositorySecrets) Scoped(ctx context.Context, repoURL, project string) (bool, error) {
	best, err := s.find(ctx, repoURL, project)
	return best != nil && project != "" && scopeOf(best) == project, err
}

func scopeOf(s *corev1.Secret) string { return strings.TrimSpace(string(s.Data["project"])) }

// find returns the Secret whose credentials project uses for the Git
// repository repoURL.
func (s RepositorySecrets) find(ctx context.Context, repoURL, project string) (*corev1.Secret, error) {
	want, err := NormalizeURL(repoURL)
	if err != nil {
		return nil, err
	}
	return s.match(ctx, want, project, NormalizeURL, credsCover)
}

// match returns the Secret whose credentials project uses for want (a URL
// in the form key gives): a repository Secret whose url has that form, else
// the repo-creds Secret with the longest url covering it (cover); the
// project's own Secrets first. Secrets whose url key refuses are skipped.
func (s RepositorySecrets) match(ctx context.Context, want, project string, key func(string) (string, error), cover func(template, repo string) bool) (*corev1.Secret, error) {
	lists := map[string][]corev1.Secret{}
	for _, kind := range []string{secretTypeRepo, secretTypeRepoCreds} {
		list := &corev1.SecretList{}
		if err := s.Reader.List(ctx, list, client.InNamespace(s.Namespace), client.MatchingLabels{secretTypeLabel: kind}); err != nil {
			return nil, fmt.Errorf("list %s secrets in %s: %w", kind, s.Namespace, err)
		}
		lists[kind] = list.Items
	}
	scopes := []string{""}
	if project != "" {
		scopes = []string{project, ""}
	}
	for _, scope := range scopes {
		for _, kind := range []string{secretTypeRepo, secretTypeRepoCreds} {
			var best *corev1.Secret
			bestURL := ""
			for i := range lists[kind] {
				sec := &lists[kind][i]
				if scopeOf(sec) != scope {
					continue
				}
				u, err := key(string(sec.Data["url"]))
				if err != nil {
					continue
				}
				if kind == secretTypeRepo && u == want {
					return sec, nil
				}
				if kind == secretTypeRepoCreds && cover(u, want) && (best == nil || len(u) > len(bestURL)) {
					best, bestURL = sec, u
				}
			}
			if best != nil {
				return best, nil
			}
		}
	}
	return nil, nil
}

// credsCover reports whether a repo-creds template URL covers a repository
// URL, both normalized: scheme, user and host (with port) equal, and the
// template's path equal to the repository's or a prefix of it ending at a
// "/" boundary. Argo CD documents a prefix match; a plain string prefix
// would also give https://git.example.com's password to
// https://git.example.com.evil.io/x and /org's to /org-evil/x, so the
// comparison stops at URL boundaries.
func credsCover(template, repo string) bool {
	t, errT := url.Parse(template)
	r, errR := url.Parse(repo)
	if errT != nil || errR != nil || t.Scheme != r.Scheme || t.Host != r.Host || t.User.String() != r.User.String() {
		return false
	}
	return t.Path == "" || t.Path == r.Path || strings.HasPrefix(r.Path, t.Path+"/")
}
