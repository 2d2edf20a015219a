// Package v1alpha1 holds the Go types for Argo CD's argoproj.io/v1alpha1
// Application and AppProject, the API Ferry serves verbatim so that users can
// bring the manifests they already have.
//
// The types model the subset of Argo CD's schema that Ferry acts on, under
// Argo CD's exact JSON names. Everything else a user writes is kept, not
// dropped: the CRD schema preserves unknown fields in spec and operation, and
// UnsupportedFields reports the paths Ferry stores but does not act on, so the
// controller can say so in a condition (ApplicationConditionUnsupportedField)
// instead of silently ignoring part of the user's intent.
//
//	var app v1alpha1.Application
//	if err := c.Get(ctx, key, &app); err != nil { ... }
//	var u unstructured.Unstructured
//	... // the same object, read unstructured
//	if paths := v1alpha1.UnsupportedFields(u.Object); len(paths) > 0 { ... }
//
// Status keeps Argo CD's shape (sync, health, resources, operationState,
// history, conditions) so existing tools that read .status keep working.
//
// +groupName=argoproj.io
// +kubebuilder:object:generate=true
package v1alpha1
