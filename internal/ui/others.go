package ui

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
	imagev1 "github.com/ferrycd/ferry/api/image/v1beta2"
	"github.com/ferrycd/ferry/internal/appview"
	"github.com/ferrycd/ferry/internal/image/policy"
	"github.com/ferrycd/ferry/internal/project"
)

// cacheWait bounds how long a page waits for a watch cache to sync.
const cacheWait = 10 * time.Second

// cachedList lists from the watch cache what the person may list: the
// namespaces where the API server's authorizer says yes.
func (s *Server) cachedList(r *http.Request, ss *session, list client.ObjectList, group, resource string, keep func(ns string) bool) error {
	// A kind whose informer has not synced yet (its CRD missing, or
	// the cache still starting) would block the request until the
	// person gives up; a bounded wait turns that into a clear error.
	ctx, cancel := context.WithTimeout(r.Context(), cacheWait)
	defer cancel()
	if err := s.opts.Cache.List(ctx, list); err != nil {
		return fmt.Errorf("listing %s.%s from the watch cache: %w", resource, group, err)
	}
	visible := s.visible(r, ss, group, resource)
	return filterList(list, func(o client.Object) bool {
		return visible(o.GetNamespace()) && (keep == nil || keep(o.GetNamespace()))
	})
}

func filterList(list client.ObjectList, keep func(client.Object) bool) error {
	switch l := list.(type) {
	case *v1alpha1.ApplicationSetList:
		l.Items = slices.DeleteFunc(l.Items, func(o v1alpha1.ApplicationSet) bool { return !keep(&o) })
	case *v1alpha1.AppProjectList:
		l.Items = slices.DeleteFunc(l.Items, func(o v1alpha1.AppProject) bool { return !keep(&o) })
	case *v1alpha1.ApplicationList:
		l.Items = slices.DeleteFunc(l.Items, func(o v1alpha1.Application) bool { return !keep(&o) })
	case *imagev1.ImageRepositoryList:
		l.Items = slices.DeleteFunc(l.Items, func(o imagev1.ImageRepository) bool { return !keep(&o) })
	case *imagev1.ImagePolicyList:
		l.Items = slices.DeleteFunc(l.Items, func(o imagev1.ImagePolicy) bool { return !keep(&o) })
	case *imagev1.ImageUpdateAutomationList:
		l.Items = slices.DeleteFunc(l.Items, func(o imagev1.ImageUpdateAutomation) bool { return !keep(&o) })
	}
	return nil
}

// --- ApplicationSets ---

type appSetView struct {
	Set        v1alpha1.ApplicationSet
	Generators []string
	Apps       []row
}

func (s *Server) appSetsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	sets := &v1alpha1.ApplicationSetList{}
	if err := s.cachedList(r, ss, sets, "argoproj.io", "applicationsets", nil); err != nil {
		s.apiError(w, ss, "ApplicationSets", err)
		return
	}
	apps := &v1alpha1.ApplicationList{}
	if err := s.cachedList(r, ss, apps, "argoproj.io", "applications", nil); err != nil {
		s.apiError(w, ss, "Applications", err)
		return
	}
	owned := map[string][]row{}
	for i := range apps.Items {
		for _, o := range apps.Items[i].OwnerReferences {
			if o.Kind == "ApplicationSet" {
				owned[string(o.UID)] = append(owned[string(o.UID)], rowOf(&apps.Items[i]))
			}
		}
	}
	out := make([]appSetView, 0, len(sets.Items))
	for _, set := range sets.Items {
		v := appSetView{Set: set, Apps: owned[string(set.UID)]}
		for _, g := range set.Spec.Generators {
			v.Generators = append(v.Generators, generatorKind(g))
		}
		slices.SortFunc(v.Apps, func(a, b row) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b appSetView) int { return strings.Compare(a.Set.Name, b.Set.Name) })
	s.page(w, ss, "appsets", "ApplicationSets", "appsets", out)
}

// generatorKind names a generator by its one key (list, clusters, git,
// matrix, …), as it is written.
func generatorKind(g apiextensionsv1.JSON) string {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(g.Raw, &m); err != nil {
		return "invalid"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "selector" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return strings.Join(keys, "+")
}

// --- clusters ---

type clustersData struct {
	Clusters []*appview.Cluster
	Error    string
}

func (s *Server) clustersPage(w http.ResponseWriter, r *http.Request, ss *session) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	d := clustersData{}
	clusters, err := appview.Clusters(ctx, ss.client, s.opts.Home, ss.config)
	if err != nil {
		d.Error = err.Error()
	} else {
		appview.ProbeClusters(clusters)
		d.Clusters = clusters
	}
	s.page(w, ss, "clusters", "Clusters", "clusters", d)
}

// --- image automation ---

type imagesData struct {
	Repositories []imagev1.ImageRepository
	Policies     []policyView
	Automations  []imagev1.ImageUpdateAutomation
}

type policyView struct {
	Policy imagev1.ImagePolicy
	Rule   string // how the tag is chosen, in words
	Chosen string
}

func (s *Server) imagesPage(w http.ResponseWriter, r *http.Request, ss *session) {
	const group = "image.toolkit.fluxcd.io"
	repos, pols, autos := &imagev1.ImageRepositoryList{}, &imagev1.ImagePolicyList{}, &imagev1.ImageUpdateAutomationList{}
	for _, l := range []struct {
		list     client.ObjectList
		resource string
	}{{repos, "imagerepositories"}, {pols, "imagepolicies"}, {autos, "imageupdateautomations"}} {
		if err := s.cachedList(r, ss, l.list, group, l.resource, nil); err != nil {
			s.apiError(w, ss, "image automation", err)
			return
		}
	}
	d := imagesData{Repositories: repos.Items, Automations: autos.Items}
	for _, p := range pols.Items {
		v := policyView{Policy: p, Rule: policyRule(p.Spec)}
		if p.Status.LatestRef != nil {
			v.Chosen = p.Status.LatestRef.Tag
		}
		d.Policies = append(d.Policies, v)
	}
	s.page(w, ss, "images", "Image automation", "images", d)
}

// policyRule says in words how an ImagePolicy picks its tag.
func policyRule(spec imagev1.ImagePolicySpec) string {
	var rule string
	switch p := spec.Policy; {
	case p.SemVer != nil:
		rule = "the highest version in semver range " + p.SemVer.Range
	case p.Alphabetical != nil:
		rule = "the last tag in " + orderOf(p.Alphabetical.Order) + " alphabetical order"
	case p.Numerical != nil:
		rule = "the last tag in " + orderOf(p.Numerical.Order) + " numerical order"
	default:
		rule = "no policy"
	}
	if f := spec.FilterTags; f != nil && f.Pattern != "" {
		rule += ", of the tags matching " + f.Pattern
		if f.Extract != "" {
			rule += " (compared by " + f.Extract + ")"
		}
	}
	return rule
}

// orderOf is an order as the policy applies it: ascending when not given.
func orderOf(o string) string { return cmp.Or(o, policy.OrderAsc) }

// --- projects ---

type projectView struct {
	Project v1alpha1.AppProject
	Windows []windowView
}

type windowView struct {
	v1alpha1.SyncWindow
	Active bool
}

func (s *Server) projectsPage(w http.ResponseWriter, r *http.Request, ss *session) {
	list := &v1alpha1.AppProjectList{}
	if err := s.cachedList(r, ss, list, "argoproj.io", "appprojects", nil); err != nil {
		s.apiError(w, ss, "AppProjects", err)
		return
	}
	now := time.Now()
	out := make([]projectView, 0, len(list.Items))
	for _, p := range list.Items {
		v := projectView{Project: p}
		for _, win := range p.Spec.SyncWindows {
			active, _, _ := project.WindowActive(win, now)
			v.Windows = append(v.Windows, windowView{SyncWindow: *win, Active: active})
		}
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b projectView) int { return strings.Compare(a.Project.Name, b.Project.Name) })
	s.page(w, ss, "projects", "Projects", "projects", out)
}
