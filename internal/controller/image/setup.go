package image

import (
	"context"
	"fmt"

	ctrl "sigs.k8s.io/controller-runtime"
)

// Setup registers the three controllers with the manager. notify is called
// with a repository URL after every push.
func Setup(mgr ctrl.Manager, notify func(ctx context.Context, repoURL string)) error {
	store := newTagStore()
	for name, setup := range map[string]func() error{
		"ImageRepository":       func() error { return setupRepositories(mgr, store) },
		"ImagePolicy":           func() error { return setupPolicies(mgr, store) },
		"ImageUpdateAutomation": func() error { return setupAutomations(mgr, notify) },
	} {
		if err := setup(); err != nil {
			return fmt.Errorf("set up the %s controller: %w", name, err)
		}
	}
	return nil
}
