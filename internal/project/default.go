package project

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// DefaultName is the name of the project Applications use when they name
// none, and the one Argo CD creates for them.
const DefaultName = "default"

// NameOf is the Application's project: spec.project, or DefaultName when
// it names none.
func NameOf(app *v1alpha1.Application) string {
	if app.Spec.Project == "" {
		return DefaultName
	}
	return app.Spec.Project
}

// Default returns the "default" project as Argo CD creates it in
// namespace: any repository, any destination, any kind, cluster-scoped
// ones included.
func Default(namespace string) *v1alpha1.AppProject {
	return &v1alpha1.AppProject{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: namespace},
		Spec: v1alpha1.AppProjectSpec{
			SourceRepos:              []string{"*"},
			Destinations:             []v1alpha1.ApplicationDestination{{Server: "*", Namespace: "*"}},
			ClusterResourceWhitelist: []v1alpha1.ClusterResourceRestrictionItem{{Group: "*", Kind: "*"}},
		},
	}
}
