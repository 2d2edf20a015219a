package application_test

import (
	"testing"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

func TestUnsupportedSyncOptionIsReported(t *testing.T) {
	repo := newGitRepo(t)
	repo.write(map[string]string{"cms/a.yaml": configMap("a", "1")})
	repo.commit("one")
	app := newApp("replace", "replace", repo, "cms", &v1alpha1.SyncPolicyAutomated{})
	app.Spec.SyncPolicy.SyncOptions = append(app.Spec.SyncPolicy.SyncOptions, "Replace=true")
	create(t, app)
	waitApp(t, app, "UnsupportedField for Replace", func(a *v1alpha1.Application) bool {
		return hasCondition(a, v1alpha1.ApplicationConditionUnsupportedField, "Replace=true")
	})
}
