package project

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// Rule is the project field that refused.
type Rule string

// The project fields a refusal can name.
const (
	RuleSourceRepos                     Rule = "sourceRepos"
	RuleDestinations                    Rule = "destinations"
	RuleSourceNamespaces                Rule = "sourceNamespaces"
	RuleClusterResourceWhitelist        Rule = "clusterResourceWhitelist"
	RuleClusterResourceBlacklist        Rule = "clusterResourceBlacklist"
	RuleNamespaceResourceWhitelist      Rule = "namespaceResourceWhitelist"
	RuleNamespaceResourceBlacklist      Rule = "namespaceResourceBlacklist"
	RuleSyncWindows                     Rule = "syncWindows"
	RuleDestinationServiceAccounts      Rule = "destinationServiceAccounts"
	RulePermitOnlyProjectScopedClusters Rule = "permitOnlyProjectScopedClusters"
)

// Object is one object an Application would create, update or delete.
type Object struct {
	// GroupKind is the object's API group and kind.
	GroupKind schema.GroupKind
	// Namespace is the object's namespace; "" when cluster-scoped.
	Namespace string
	// Name is the object's name.
	Name string
	// Namespaced says whether the kind is namespaced.
	Namespaced bool
}

// String names the object as "Kind ns/name" or "Kind name", the kind
// prefixed by its group unless it is in the core group
// ("apps/Deployment team-a/web", "Namespace team-a").
func (o Object) String() string {
	kind := o.GroupKind.Kind
	if o.GroupKind.Group != "" {
		kind = o.GroupKind.Group + "/" + kind
	}
	if o.Namespace != "" {
		return kind + " " + o.Namespace + "/" + o.Name
	}
	return kind + " " + o.Name
}

// Violation is one refusal: the rule, the object (empty for the
// Application itself) and why, in words naming the project.
type Violation struct {
	// Rule is the project field that refused.
	Rule Rule
	// Object names the refused object as Object.String does; "" when the
	// Application itself is refused.
	Object string
	// Message says why, naming the project.
	Message string
}

// String renders the violation as "object: message (rule)", without the
// object when the Application itself is refused.
func (v Violation) String() string {
	if v.Object == "" {
		return fmt.Sprintf("%s (%s)", v.Message, v.Rule)
	}
	return fmt.Sprintf("%s: %s (%s)", v.Object, v.Message, v.Rule)
}

// namespaceKind is the core Namespace kind.
var namespaceKind = schema.GroupKind{Kind: "Namespace"}

// CheckObject checks one object an Application would manage on cluster
// (its Server and Name; the Namespace is ignored) against the project: its
// kind (and, for cluster-scoped kinds, its name) must be permitted, and a
// namespaced object's namespace must be a permitted destination on that
// cluster. ok is false when the project refuses the object.
//
// A Namespace object must itself name a permitted destination namespace.
// Argo CD checks only the objects inside a namespace; Ferry also refuses
// creating (or pruning) a namespace the project may not deploy into, so a
// project cannot be used to make or remove namespaces outside its reach.
func CheckObject(p *v1alpha1.AppProject, cluster Destination, o Object) (Violation, bool) {
	if v, ok := checkKind(p, o); !ok {
		return v, false
	}
	ns := o.Namespace
	switch {
	case o.Namespaced:
	case o.GroupKind == namespaceKind:
		ns = o.Name
	default:
		return Violation{}, true
	}
	if !DestinationPermitted(p, Destination{Server: cluster.Server, Name: cluster.Name, Namespace: ns}) {
		return Violation{
			Rule:    RuleDestinations,
			Object:  o.String(),
			Message: fmt.Sprintf("namespace %q is not among project %q's destinations", ns, p.Name),
		}, false
	}
	return Violation{}, true
}

// checkKind checks the object's kind against the project's resource lists.
func checkKind(p *v1alpha1.AppProject, o Object) (Violation, bool) {
	whitelisted, blacklisted := kindListed(p, o.GroupKind, o.Name, o.Namespaced)
	if whitelisted && !blacklisted {
		return Violation{}, true
	}
	v := Violation{Object: o.String()}
	kind := groupKindString(o.GroupKind)
	switch {
	case o.Namespaced && !whitelisted:
		v.Rule = RuleNamespaceResourceWhitelist
		v.Message = fmt.Sprintf("project %q does not allow namespaced kind %s", p.Name, kind)
	case o.Namespaced:
		v.Rule = RuleNamespaceResourceBlacklist
		v.Message = fmt.Sprintf("project %q denies namespaced kind %s", p.Name, kind)
	case !whitelisted:
		v.Rule = RuleClusterResourceWhitelist
		v.Message = fmt.Sprintf("project %q does not allow cluster-scoped %s %q", p.Name, kind, o.Name)
	default:
		v.Rule = RuleClusterResourceBlacklist
		v.Message = fmt.Sprintf("project %q denies cluster-scoped %s %q", p.Name, kind, o.Name)
	}
	return v, false
}

// groupKindString spells gk as "group/Kind", or "Kind" in the core group.
func groupKindString(gk schema.GroupKind) string {
	if gk.Group == "" {
		return gk.Kind
	}
	return gk.Group + "/" + gk.Kind
}

// Check checks every object with CheckObject and returns the refusals, in
// the objects' order; nil when the project permits them all.
func Check(p *v1alpha1.AppProject, cluster Destination, objs []Object) []Violation {
	var out []Violation
	for _, o := range objs {
		if v, ok := CheckObject(p, cluster, o); !ok {
			out = append(out, v)
		}
	}
	return out
}

// RefusedError is a project's refusal of an Application's objects or spec.
type RefusedError struct {
	// Project is the refusing project's name.
	Project string
	// Violations are the refusals, at least one.
	Violations []Violation
}

// maxListedViolations is how many violations RefusedError.Error lists
// before summing up the rest.
const maxListedViolations = 5

// Error lists the first violations and counts the rest:
// `project "team-a" refuses: v1; v2; v3; v4; v5; and 2 more`.
func (e *RefusedError) Error() string {
	if len(e.Violations) == 0 {
		return fmt.Sprintf("project %q refuses", e.Project)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "project %q refuses: ", e.Project)
	for i, v := range e.Violations {
		if i == maxListedViolations {
			fmt.Fprintf(&b, "; and %d more", len(e.Violations)-maxListedViolations)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(v.String())
	}
	return b.String()
}
