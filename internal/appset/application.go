package appset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// ResourcesFinalizer is Argo CD's cascading-deletion finalizer: an Application holding it
// deletes what it deployed when it is deleted.
const ResourcesFinalizer = "resources-finalizer.argocd.argoproj.io"

// Generators decodes an ApplicationSet's spec.generators. Errors name the entry, e.g.
// "spec.generators[1]: ...".
func Generators(as *v1alpha1.ApplicationSet) ([]Generator, error) {
	gens := make([]Generator, len(as.Spec.Generators))
	for i, raw := range as.Spec.Generators {
		if err := json.Unmarshal(raw.Raw, &gens[i]); err != nil {
			return nil, fmt.Errorf("spec.generators[%d]: %w", i, err)
		}
	}
	return gens, nil
}

// Applications runs as's generators over clusters (the registry the clusters generator sees)
// and repo (what the git generator reads), and renders one Application per parameter set, in
// the generators' order. It creates nothing. Two parameter sets rendering the same Application
// name are an error: one would silently replace the other.
func Applications(ctx context.Context, as *v1alpha1.ApplicationSet, clusters []Cluster, repo Repo) ([]*v1alpha1.Application, error) {
	gens, err := Generators(as)
	if err != nil {
		return nil, &SpecError{Part: PartGenerators, Err: err}
	}
	sets, err := Generate(ctx, gens, Inputs{Clusters: clusters, Repo: repo,
		GoTemplate: as.Spec.GoTemplate, GoTemplateOptions: as.Spec.GoTemplateOptions})
	if err != nil {
		err = fmt.Errorf("spec.%w", err)
		var input *InputError
		if errors.As(err, &input) || ctx.Err() != nil {
			return nil, err
		}
		return nil, &SpecError{Part: PartGenerators, Err: err}
	}
	apps := make([]*v1alpha1.Application, 0, len(sets))
	seen := map[string]int{}
	for i, params := range sets {
		app, err := RenderApplication(as, params)
		if err != nil {
			return nil, fmt.Errorf("parameter set %d: %w", i, err)
		}
		if j, dup := seen[app.Name]; dup {
			return nil, &SpecError{Part: PartApplication,
				Err: fmt.Errorf("parameter sets %d and %d both render the Application %s", j, i, app.Name)}
		}
		seen[app.Name] = i
		apps = append(apps, app)
	}
	return apps, nil
}

// RenderApplication renders as's template (and templatePatch) with one parameter set into an
// Application controlled by as, in as's namespace. Its errors are *SpecError.
func RenderApplication(as *v1alpha1.ApplicationSet, params map[string]any) (*v1alpha1.Application, error) {
	var tmpl map[string]any
	data, _ := json.Marshal(map[string]json.RawMessage{"metadata": orEmpty(as.Spec.Template.Metadata.Raw), "spec": orEmpty(as.Spec.Template.Spec.Raw)})
	if err := json.Unmarshal(data, &tmpl); err != nil {
		return nil, templateError(fmt.Errorf("spec.template: %w", err))
	}
	out, err := Render(tmpl, params, as.Spec.GoTemplate, as.Spec.GoTemplateOptions)
	if err != nil {
		return nil, templateError(fmt.Errorf("spec.template: %w", err))
	}
	rendered, _ := out.(map[string]any)
	if p := as.Spec.TemplatePatch; p != nil && *p != "" {
		if rendered, err = Patch(rendered, *p, params, as.Spec.GoTemplateOptions); err != nil {
			return nil, templateError(fmt.Errorf("spec.templatePatch: %w", err))
		}
	}
	data, err = json.Marshal(rendered)
	if err != nil {
		return nil, templateError(err)
	}
	app := &v1alpha1.Application{}
	if err := json.Unmarshal(data, app); err != nil {
		return nil, templateError(fmt.Errorf("the rendered template is not an Application: %w", err))
	}
	if app.Name == "" {
		return nil, &SpecError{Part: PartApplication, Err: errors.New("the rendered Application has no metadata.name")}
	}
	switch app.Namespace {
	case "":
		app.Namespace = as.Namespace
	case as.Namespace:
	default:
		// An owner reference cannot cross namespaces: the garbage collector
		// would delete such an Application as orphaned.
		return nil, &SpecError{Part: PartApplication,
			Err: fmt.Errorf("the rendered Application %s is in namespace %s; it must be in the ApplicationSet's, %s", app.Name, app.Namespace, as.Namespace)}
	}
	if p := as.Spec.SyncPolicy; p != nil && p.PreserveResourcesOnDeletion {
		// Not even deleting the ApplicationSet (its Applications go with it,
		// through garbage collection) may cascade to their resources.
		app.Finalizers = slices.DeleteFunc(app.Finalizers, func(f string) bool { return f == ResourcesFinalizer })
	}
	app.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind(v1alpha1.ApplicationKind))
	t := true
	app.OwnerReferences = []metav1.OwnerReference{{APIVersion: v1alpha1.GroupVersion.String(), Kind: v1alpha1.ApplicationSetKind,
		Name: as.Name, UID: as.UID, Controller: &t, BlockOwnerDeletion: &t}}
	return app, nil
}

func templateError(err error) error { return &SpecError{Part: PartTemplate, Err: err} }

// orEmpty is raw, or an empty object when the template leaves a part out.
func orEmpty(raw []byte) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage("{}")
	}
	return raw
}
