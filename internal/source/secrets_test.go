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

func helmSecret(name, kind, url, password, project string, extra map[string]string) client.Object {
	s := repoSecret(name, kind, url, password, project).(*corev1.Secret)
	s.Data["type"] = []byte("helm")
	for k, v := range extra {
		s.Data[k] = []byte(v)
	}
	return s
}

// TestRepositorySecretsHelm checks which Secret's password goes to which
// Helm chart repository: repository Secrets by normalized URL, repo-creds
// templates at URL boundaries (the oci:// and host/path forms of a
// registry being one), project scoping as for Git, and Git Secrets
// matching by URL as in Argo CD.
func TestRepositorySecretsHelm(t *testing.T) {
	c := fake.NewClientBuilder().WithScheme(scheme.Scheme).WithObjects(
		helmSecret("stable", secretTypeRepo, "https://charts.example.com/stable/", "stable-pw", "", map[string]string{"insecure": "true"}),
		helmSecret("charts", secretTypeRepoCreds, "https://charts.example.com", "charts-pw", "", nil),
		helmSecret("ghcr", secretTypeRepoCreds, "oci://ghcr.io/org", "ghcr-pw", "", nil),
		helmSecret("registry", secretTypeRepo, "registry.example.com/charts", "reg-pw", "", map[string]string{"enableOCI": "true"}),
		helmSecret("registry-creds", secretTypeRepoCreds, "registry.example.com:5000", "reg5000-pw", "", map[string]string{"enableOCI": "true"}),
		helmSecret("team-a", secretTypeRepo, "https://private.example.com/charts", "team-a-pw", "team-a", nil),
		repoSecret("git", secretTypeRepo, "https://git.example.com/charts", "git-pw", ""),
		repoSecret("ssh", secretTypeRepoCreds, "git@charts.example.com:org", "ssh-pw", ""),
	).Build()
	s := RepositorySecrets{Reader: c, Namespace: "argocd"}
	tests := []struct {
		url, project, want  string // want: the password sent, "" for none
		enableOCI, insecure bool
	}{
		{url: "https://charts.example.com/stable", want: "stable-pw", insecure: true},
		{url: "https://CHARTS.example.com/stable/", want: "stable-pw", insecure: true},
		{url: "https://charts.example.com/incubator", want: "charts-pw"},
		{url: "https://charts.example.com", want: "charts-pw"},
		{url: "https://charts.example.com.evil.io/stable", want: ""},
		{url: "http://charts.example.com/stable", want: ""},
		{url: "oci://ghcr.io/org/charts", want: "ghcr-pw"},
		{url: "ghcr.io/org/charts", want: "ghcr-pw"},
		{url: "oci://ghcr.io/org-evil/charts", want: ""},
		{url: "oci://ghcr.io/organisation", want: ""},
		{url: "registry.example.com/charts", want: "reg-pw", enableOCI: true},
		{url: "oci://registry.example.com/charts/", want: "reg-pw", enableOCI: true},
		{url: "registry.example.com/charts/sub", want: ""},
		{url: "registry.example.com:5000/any/path", want: "reg5000-pw", enableOCI: true},
		{url: "registry.example.com:5001/any", want: ""},
		{url: "https://private.example.com/charts", want: ""},
		{url: "https://private.example.com/charts", project: "team-b", want: ""},
		{url: "https://private.example.com/charts", project: "team-a", want: "team-a-pw"},
		{url: "https://charts.example.com/x", project: "team-a", want: "charts-pw"},
		{url: "https://git.example.com/charts", want: "git-pw"},
	}
	for _, tt := range tests {
		creds, err := s.HelmCredentials(t.Context(), tt.url, tt.project)
		if err != nil {
			t.Errorf("HelmCredentials(%s, project %q): %v", tt.url, tt.project, err)
			continue
		}
		got := ""
		if creds != nil {
			got = creds.Password
			if creds.EnableOCI != tt.enableOCI || creds.InsecureSkipTLS != tt.insecure || creds.Username != "u" {
				t.Errorf("HelmCredentials(%s) = %+v; want enableOCI %v, insecure %v, user u", tt.url, *creds, tt.enableOCI, tt.insecure)
			}
		}
		if got != tt.want {
			t.Errorf("HelmCredentials(%s, project %q) sends password %q, want %q", tt.url, tt.project, got, tt.want)
		}
	}
	if _, err := s.HelmCredentials(t.Context(), "file:///charts", ""); err == nil {
		t.Error("HelmCredentials(file:///charts) succeeded")
	}
	// The Git behaviour is unchanged by Helm Secrets: an oci:// or
	// host/path url is no Git repository's.
	if creds, err := s.Credentials(t.Context(), "https://charts.example.com/stable", ""); err != nil || creds == nil || creds.Password != "stable-pw" {
		t.Errorf("Git Credentials(https://charts.example.com/stable) = %+v, %v", creds, err)
	}
}
