package source

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

func repoSecret(name, kind, url, password, project string) client.Object {
	data := map[string][]byte{"url": []byte(url), "username": []byte("u"), "password": []byte(password)}
	if project != "" {
		data["project"] = []byte(project)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "argocd", Name: name, Labels: map[string]string{secretTypeLabel: kind}},
		Data:       data,
	}
}

// TestRepositorySecretsRepoCreds checks which Secret's password goes to
// which URL: repo-creds templates cover URLs under them at scheme, host,
// port and path-segment boundaries, the longest template wins, a
// repository Secret beats any template, and look-alike hosts and paths get
// nothing.
func TestRepositorySecretsRepoCreds(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
		repoSecret("host", secretTypeRepoCreds, "https://git.example.com/", "host-pw", ""),
		repoSecret("org", secretTypeRepoCreds, "https://git.example.com/org", "org-pw", ""),
		repoSecret("team", secretTypeRepoCreds, "https://git.example.com/org/team/", "team-pw", ""),
		repoSecret("exact", secretTypeRepo, "https://git.example.com/org/team/special.git", "exact-pw", ""),
		repoSecret("ssh", secretTypeRepoCreds, "git@ssh.example.com:org", "ssh-pw", ""),
		repoSecret("port", secretTypeRepoCreds, "https://port.example.com:8443/", "port-pw", ""),
		repoSecret("scoped", secretTypeRepoCreds, "https://scoped.example.com/", "scoped-pw", "team-a"),
	).Build()
	s := RepositorySecrets{Reader: c, Namespace: "argocd"}
	tests := []struct {
		url, project, want string // want: the password sent, "" for none
	}{
		{"https://git.example.com/other/repo", "", "host-pw"},
		{"https://GIT.example.com/org/repo.git", "", "org-pw"},
		{"https://git.example.com/org", "", "org-pw"},
		{"https://git.example.com/org/team/app", "", "team-pw"},
		{"https://git.example.com/org/team/special", "", "exact-pw"},
		{"https://git.example.com/org-evil/repo", "", "host-pw"},
		{"https://git.example.com/org/teamster/repo", "", "org-pw"},
		{"https://git.example.com.evil.io/org/repo", "", ""},
		{"http://git.example.com/org/repo", "", ""},
		{"https://git.example.com:8443/org/repo", "", ""},
		{"https://port.example.com:8443/x", "", "port-pw"},
		{"https://port.example.com/x", "", ""},
		{"ssh://git@ssh.example.com/org/repo", "", "ssh-pw"},
		{"git@ssh.example.com:org/repo.git", "", "ssh-pw"},
		{"ssh://other@ssh.example.com/org/repo", "", ""},
		{"git@ssh.example.com:organisation/repo", "", ""},
		{"https://scoped.example.com/x", "", ""},
		{"https://scoped.example.com/x", "team-b", ""},
		{"https://scoped.example.com/x", "team-a", "scoped-pw"},
	}
	for _, tt := range tests {
		creds, err := s.Credentials(t.Context(), tt.url, tt.project)
		if err != nil {
			t.Errorf("Credentials(%s, project %q): %v", tt.url, tt.project, err)
			continue
		}
		got := ""
		if creds != nil {
			got = creds.Password
		}
		if got != tt.want {
			t.Errorf("Credentials(%s, project %q) sends password %q, want %q", tt.url, tt.project, got, tt.want)
		}
	}
}
