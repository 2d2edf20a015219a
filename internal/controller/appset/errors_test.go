package appset

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	"github.com/ferrycd/ferry/internal/appset"
	gitsource "github.com/ferrycd/ferry/internal/source"
)

// failingRepo fails every read, as an unreachable Git server does.
type failingRepo struct{}

func (failingRepo) Dirs(context.Context, string, string) ([]string, error) {
	return nil, errors.New("connection refused")
}

func (failingRepo) Files(context.Context, string, string, string) (map[string][]byte, error) {
	return nil, errors.New("connection refused")
}

func parseAppSet(t *testing.T, text string) *v1alpha1.ApplicationSet {
	t.Helper()
	as := &v1alpha1.ApplicationSet{}
	if err := yaml.Unmarshal([]byte(text), as); err != nil {
		t.Fatal(err)
	}
	return as
}

// TestErrorClassification: errors of a bad spec or cluster Secret stall the
// ApplicationSet, with the reason that names them; errors of the API
// server, Git or the context are retried.
func TestErrorClassification(t *testing.T) {
	const meta = "metadata: {name: s, namespace: argocd}\n"
	const tmpl = "  template: {metadata: {name: 'x-{{a}}'}, spec: {project: default}}\n"
	generate := func(manifest string, repo appset.Repo) error {
		_, err := appset.Applications(t.Context(), parseAppSet(t, meta+manifest), nil, repo)
		if err == nil {
			t.Fatalf("no error for %s", manifest)
		}
		return generationError(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, ctxErr := appset.Applications(cancelled, parseAppSet(t, meta+"spec:\n  generators: [{list: {elements: [{a: b}]}}]\n"+tmpl), nil, nil)
	gr := schema.GroupResource{Group: v1alpha1.GroupVersion.Group, Resource: "applications"}

	for _, c := range []struct {
		name    string
		err     error
		reason  string
		stalled bool
	}{
		{"a generator that does not decode", generate("spec:\n  generators: [{list: {elements: 3}}]\n"+tmpl, nil),
			ReasonApplicationGenerationFromParamsError, true},
		{"an unsupported generator", generate("spec:\n  generators: [{scmProvider: {}}]\n"+tmpl, nil),
			ReasonApplicationGenerationFromParamsError, true},
		{"a template that does not render", generate("spec:\n  goTemplate: true\n  goTemplateOptions: [missingkey=error]\n"+
			"  generators: [{list: {elements: [{a: b}]}}]\n  template: {metadata: {name: '{{.nope}}'}, spec: {project: default}}\n", nil),
			ReasonRenderTemplateParamsError, true},
		{"a rendered Application with no name", generate("spec:\n  generators: [{list: {elements: [{a: b}]}}]\n"+
			"  template: {metadata: {labels: {a: '{{a}}'}}, spec: {project: default}}\n", nil),
			ReasonApplicationValidationError, true},
		{"two parameter sets rendering one name", generate("spec:\n  generators: [{list: {elements: [{a: b}, {a: b}]}}]\n"+tmpl, nil),
			ReasonApplicationValidationError, true},
		{"a nested git generator that cannot read its repository", generate("spec:\n  generators: [{matrix: {generators: ["+
			"{list: {elements: [{a: b}]}}, {git: {repoURL: 'https://git.example.com/r.git', revision: main, directories: [{path: '*'}]}}]}}]\n"+tmpl, failingRepo{}),
			ReasonApplicationGenerationFromParamsError, false},
		{"a cluster Secret that does not parse", generationError(&appset.InvalidClusterSecretError{Secret: "argocd/c", Err: errors.New(`key "server": is missing`)}),
			ReasonInvalidClusterSecret, true},
		{"listing cluster Secrets fails", generationError(fmt.Errorf("list cluster Secrets in namespace argocd: %w", apierrors.NewServiceUnavailable("down"))),
			ReasonApplicationGenerationFromParamsError, false},
		{"the context ends", generationError(ctxErr), ReasonApplicationGenerationFromParamsError, false},
		{"an Application name owned by something else", stalled(ReasonCreateApplicationError, errors.New("Application argocd/x exists and this ApplicationSet does not own it")),
			ReasonCreateApplicationError, true},
		{"creating an Application fails", retryable(ReasonCreateApplicationError, apierrors.NewTimeoutError("slow", 1)),
			ReasonCreateApplicationError, false},
		{"an update conflicts", retryable(ReasonUpdateApplicationError, apierrors.NewConflict(gr, "x", errors.New("changed"))),
			ReasonUpdateApplicationError, false},
		{"an untyped error", errors.New("status patch failed"), ReasonErrorOccurred, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			reason, isStalled := classify(c.err)
			if reason != c.reason || isStalled != c.stalled {
				t.Errorf("classify(%v) = %s, stalled %v; want %s, stalled %v", c.err, reason, isStalled, c.reason, c.stalled)
			}
			res, err := result(t.Context(), c.err, false)
			switch {
			case c.stalled && (err != nil || res != (ctrl.Result{})):
				t.Errorf("result = %+v, %v; want no retry and no requeue", res, err)
			case !c.stalled && !errors.Is(err, c.err):
				t.Errorf("result = %+v, %v; want the error returned for the workqueue's backoff", res, err)
			}
			if res, err := result(t.Context(), c.err, true); c.stalled && (err != nil || res.RequeueAfter != gitRequeue) {
				t.Errorf("with git generators, result = %+v, %v; want the Git poll only", res, err)
			}
		})
	}
	if res, err := result(t.Context(), nil, true); err != nil || res.RequeueAfter != 3*time.Minute {
		t.Errorf("success with git generators: result = %+v, %v; want a requeue after 3m", res, err)
	}
}

// TestPushedRepo: a push concerns an ApplicationSet whose git generator,
// at any depth, reads the pushed repository, however its URL is written.
func TestPushedRepo(t *testing.T) {
	as := parseAppSet(t, `
metadata: {name: s, namespace: argocd}
spec:
  generators:
  - list: {elements: [{a: b}]}
  - merge:
      mergeKeys: [a]
      generators:
      - list: {elements: [{a: b}]}
      - matrix:
          generators:
          - clusters: {}
          - git: {repoURL: "https://git.example.com/Team/Apps.git/", revision: main, directories: [{path: "*"}]}
`)
	want := func(urls ...string) map[string]bool {
		m := map[string]bool{}
		for _, u := range urls {
			m[normalized(t, u)] = true
		}
		return m
	}
	if repo, ok := pushedRepo(as, want("https://git.example.com/Team/Apps.git")); !ok || repo != "https://git.example.com/Team/Apps.git/" {
		t.Errorf("pushedRepo = %q, %v; want the nested git generator's repoURL", repo, ok)
	}
	if repo, ok := pushedRepo(as, want("https://git.example.com/other.git")); ok {
		t.Errorf("pushedRepo = %q for another repository", repo)
	}
	// A repoURL in a list element is a parameter, not a git generator.
	listOnly := parseAppSet(t, `
metadata: {name: s, namespace: argocd}
spec:
  generators: [{list: {elements: [{git: {repoURL: "https://git.example.com/Team/Apps.git"}}]}}]
`)
	if repo, ok := pushedRepo(listOnly, want("https://git.example.com/Team/Apps.git")); ok {
		t.Errorf("pushedRepo = %q for a list element that looks like a git generator", repo)
	}
}

func normalized(t *testing.T, u string) string {
	t.Helper()
	n, err := gitsource.NormalizeURL(u)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
