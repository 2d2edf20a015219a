package project

import (
	_ "time/tzdata" // the window tests load IANA zones whether or not the machine has them

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// proj is a project named "team-a" with the given spec.
func proj(spec v1alpha1.AppProjectSpec) *v1alpha1.AppProject {
	return &v1alpha1.AppProject{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a", Namespace: "ferry"},
		Spec:       spec,
	}
}

// dest is a project destination item.
func dest(server, name, namespace string) v1alpha1.ApplicationDestination {
	return v1alpha1.ApplicationDestination{Server: server, Name: name, Namespace: namespace}
}
