package source

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Argo CD's repository Secrets: a Secret labelled
// argocd.argoproj.io/secret-type=repository holds the credentials of one
// repository (key url); secret-type=repo-creds holds credentials for every
// repository whose URL starts with its url.
const (
	secretTypeLabel     = "argocd.argoproj.io/secret-type"
	secretTypeRepo      = "repository"
	secretTypeRepoCreds = "repo-creds"
)

// RepositoryCredentials looks credentials up in the home namespace when a
// repository is cloned or fetched (once per poll interval per repository),
// so a rotated Secret takes effect at the next fetch. Secrets are listed by
// label, never cached wholesale.
func RepositoryCredentials(c client.Reader, namespace string) CredentialsFunc {
	return func(ctx context.Context, repoURL string) (*Credentials, error) {
		want, err := NormalizeURL(repoURL)
		if err != nil {
			return nil, err
		}
		for _, kind := range []string{secretTypeRepo, secretTypeRepoCreds} {
			list := &corev1.SecretList{}
			if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{secretTypeLabel: kind}); err != nil {
				return nil, fmt.Errorf("list %s secrets in %s: %w", kind, namespace, err)
			}
			var best *corev1.Secret
			for i := range list.Items {
				s := &list.Items[i]
				u, err := NormalizeURL(string(s.Data["url"]))
				if err != nil {
					continue
				}
				if (kind == secretTypeRepo && u == want) ||
					(kind == secretTypeRepoCreds && strings.HasPrefix(want, u) && (best == nil || len(s.Data["url"]) > len(best.Data["url"]))) {
					best = s
					if kind == secretTypeRepo {
						break
					}
				}
			}
			if best != nil {
				insecure, _ := strconv.ParseBool(string(best.Data["insecure"]))
				return &Credentials{
					Username: string(best.Data["username"]), Password: string(best.Data["password"]),
					SSHPrivateKey: best.Data["sshPrivateKey"], InsecureSkipTLS: insecure, InsecureIgnoreHostKey: insecure,
				}, nil
			}
		}
		return nil, nil
	}
}
