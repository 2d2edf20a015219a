package crd

import (
	"context"
	"fmt"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldManager is the field manager Install applies the CRDs as.
const FieldManager = "ferry"

// pollInterval is how often Install checks whether a CRD is established.
const pollInterval = 100 * time.Millisecond

// Install server-side applies every embedded CRD as FieldManager, taking over
// fields other managers own, then waits until each is Established, which is
// when the API server serves its resource. It works with any client: the
// CRDs travel unstructured, so c's scheme need not know apiextensions.
//
// The wait is bounded only by ctx; give it a deadline. An error names the
// CRD it concerns and, for a wait that ran out, the conditions last seen.
func Install(ctx context.Context, c client.Client) error {
	objs, err := objects()
	if err != nil {
		return err
	}
	for _, obj := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj),
			client.FieldOwner(FieldManager), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply CRD %s: %w", obj.GetName(), err)
		}
	}
	for _, obj := range objs {
		if err := WaitEstablished(ctx, c, obj.GetName()); err != nil {
			return err
		}
	}
	return nil
}

// WaitEstablished polls the named CRD until its Established condition is
// True, which is when the API server serves its resource, or ctx ends. The
// error names the CRD and the conditions last seen.
func WaitEstablished(ctx context.Context, c client.Client, name string) error {
	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	last := "not read yet"
	for {
		established, seen, err := isEstablished(ctx, c, name)
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("wait for CRD %s to be established: %w", name, err)
		}
		if established {
			return nil
		}
		if seen != "" {
			last = seen
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for CRD %s to be established (last seen: %s): %w", name, last, ctx.Err())
		case <-ticker.C:
		}
	}
}

// isEstablished reads the named CRD and reports whether it is Established,
// and its conditions as text for an error message.
func isEstablished(ctx context.Context, c client.Client, name string) (bool, string, error) {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(apiextensionsv1.SchemeGroupVersion.WithKind("CustomResourceDefinition"))
	if err := c.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		return false, "", err
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, crd); err != nil {
		return false, "", fmt.Errorf("decode: %w", err)
	}
	var seen []string
	established := false
	for _, cond := range crd.Status.Conditions {
		seen = append(seen, fmt.Sprintf("%s=%s", cond.Type, cond.Status))
		if cond.Message != "" {
			seen[len(seen)-1] += " (" + cond.Message + ")"
		}
		if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
			established = true
		}
	}
	if len(seen) == 0 {
		return established, "no conditions", nil
	}
	return established, strings.Join(seen, ", "), nil
}
