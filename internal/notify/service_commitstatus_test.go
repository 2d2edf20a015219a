package notify

import (
	"errors"
	"strings"
	"testing"
)

func TestCommitStatusOnlyForStateTriggers(t *testing.T) {
	c := mustParse(t, map[string]string{"service.github": "token: t", "service.gitlab": "token: t"}, nil)
	for _, trigger := range []string{TriggerDriftDetected, TriggerOutOfSync} {
		for _, svc := range []string{"github", "gitlab"} {
			ns, err := c.Render(testEvent(trigger), c.TemplatesOf(trigger), Destination{Service: svc})
			if err != nil || len(ns) != 1 {
				t.Fatalf("%s to %s: %v, %v", trigger, svc, ns, err)
			}
			if err := fast.Send(t.Context(), c, ns[0]); !errors.Is(err, ErrNothingToSend) {
				t.Errorf("%s to %s: %v, want nothing to send", trigger, svc, err)
			}
		}
	}
}

func TestCommitState(t *testing.T) {
	tests := map[string]string{
		TriggerDeployed: "success", TriggerSyncSucceeded: "success",
		TriggerSyncFailed: "failure", TriggerHealthDegraded: "failure",
		TriggerDriftDetected: "", TriggerOutOfSync: "", "on-created": "",
	}
	for trigger, want := range tests {
		if got := CommitState(trigger); got != want {
			t.Errorf("CommitState(%s) = %q, want %q", trigger, got, want)
		}
	}
}

func TestRepoPath(t *testing.T) {
	tests := []struct{ url, want string }{
		{"https://github.com/acme/app", "acme/app"},
		{"https://github.com/acme/app.git", "acme/app"},
		{"https://github.com/acme/app/", "acme/app"},
		{"https://user:pw@gitlab.com/group/sub/app.git", "group/sub/app"},
		{"ssh://git@github.com/acme/app.git", "acme/app"},
		{"ssh://git@gitlab.example.com:2222/group/sub/deep/app.git", "group/sub/deep/app"},
		{"git@github.com:acme/app.git", "acme/app"},
		{"github.com:acme/app", "acme/app"},
		{"git@gitlab.com:group/sub/app.git", "group/sub/app"},
		{"https://github.com/acme", ""},
		{"https://github.com", ""},
		{"git@github.com:app.git", ""},
		{"/local/path/repo", ""},
		{"oci://registry/charts", ""},
		{"https://github.com/acme/../app", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := repoPath(tt.url)
		if tt.want == "" {
			if err == nil || !strings.Contains(err.Error(), `"`+tt.url+`"`) {
				t.Errorf("repoPath(%q) = %q, %v; want an error naming it", tt.url, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("repoPath(%q) = %q, %v; want %q", tt.url, got, err, tt.want)
		}
	}
	if _, err := repoPath("https://user:hunter2@h/x"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error %v shows the password", err)
	}
}
