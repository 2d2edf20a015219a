package project

import (
	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// Destination is a cluster (server URL and/or name as registered) and a
// namespace ("" for cluster scope).
//
// Give both the server and the name when the cluster is known: Argo CD
// resolves an Application's destination before checking it, so that the
// default project's {server: "*"} permits a destination given by name.
type Destination struct {
	// Server is the cluster's API server URL; "" when only the name is known.
	Server string
	// Name is the cluster's registered name; "" when only the server is known.
	Name string
	// Namespace is the destination namespace; "" for cluster scope.
	Namespace string
}

// DestinationPermitted reports whether the project's destinations let an
// Application deploy to d, with Argo CD's rules: an item matches when its
// server or name glob matches the cluster and its namespace glob matches
// the namespace; any match permits, unless a deny item ("!..." in a field)
// refuses first.
//
// A deny item refuses when its cluster field is a deny pattern the cluster
// falls under (a name refusal regardless of the namespace, and even for a
// destination given by server alone; a server refusal only in a namespace
// the item covers), or when its namespace is a
// deny pattern the namespace falls under on a server the item covers.
//
// PermitOnlyProjectScopedClusters is left to the caller: it needs the
// clusters' Secrets.
func DestinationPermitted(p *v1alpha1.AppProject, d Destination) bool {
	anyMatched := false
	for _, item := range p.Spec.Destinations {
		nameMatched := d.Name != "" && globMatch(item.Name, d.Name, true)
		serverMatched := d.Server != "" && globMatch(item.Server, d.Server, true)
		nsMatched := globMatch(item.Namespace, d.Namespace, true)

		switch {
		case (serverMatched || nameMatched) && nsMatched:
			anyMatched = true
		case (!nameMatched && isDenyPattern(item.Name)) || (!serverMatched && isDenyPattern(item.Server) && nsMatched):
			return false
		case !nsMatched && isDenyPattern(item.Namespace) && serverMatched:
			return false
		}
	}
	return anyMatched
}
