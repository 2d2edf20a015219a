// Package api holds Ferry's API types, one package per group and version
// (argoproj/v1alpha1, image/v1beta2, source/v1), and the scheme that knows
// them all.
package api

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	sourcev1 "github.com/ferrycd/ferry/api/source/v1"
)

// NewScheme returns the scheme of every type Ferry reads and writes: the
// Kubernetes built-in kinds and Ferry's own. The controller, the CLI, the
// demo and the tests all build their clients with it.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(s)
	_ = v1alpha1.AddToScheme(s)
	_ = imagev1.AddToScheme(s)
	_ = sourcev1.AddToScheme(s)
	return s
}
