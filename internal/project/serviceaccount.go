package project

import (
	"fmt"
	"strings"

	"github.com/gobwas/glob"

	"github.com/ferrycd/ferry/api/argoproj/v1alpha1"
)

// ServiceAccountFor returns the ServiceAccount a sync to (server,
// namespace) runs as (Argo CD's sync impersonation): that of the first
// destinationServiceAccounts entry whose server and namespace globs match.
// A defaultServiceAccount "name" lives in the destination namespace,
// "ns:name" in ns.
//
// namespace is the destination namespace as the sync uses it: Argo CD
// takes the Application's own namespace when the destination names none,
// and that is for the caller to do. ok is false when no entry matches. The
// error is a pattern that does not compile or a matching entry whose value
// is empty or malformed; entries after a match are not looked at.
func ServiceAccountFor(p *v1alpha1.AppProject, server, namespace string) (saNamespace, saName string, ok bool, err error) {
	for i, item := range p.Spec.DestinationServiceAccounts {
		serverMatched, err := globMatchErr(item.Server, server)
		if err != nil {
			return "", "", false, fmt.Errorf("project %q: destinationServiceAccounts[%d]: server %q: %w", p.Name, i, item.Server, err)
		}
		nsMatched, err := globMatchErr(item.Namespace, namespace)
		if err != nil {
			return "", "", false, fmt.Errorf("project %q: destinationServiceAccounts[%d]: namespace %q: %w", p.Name, i, item.Namespace, err)
		}
		if !serverMatched || !nsMatched {
			continue
		}
		saNamespace, saName, err = splitServiceAccount(item.DefaultServiceAccount, namespace)
		if err != nil {
			return "", "", false, fmt.Errorf("project %q: destinationServiceAccounts[%d]: defaultServiceAccount %q: %w", p.Name, i, item.DefaultServiceAccount, err)
		}
		return saNamespace, saName, true, nil
	}
	return "", "", false, nil
}

// globMatchErr matches a gobwas glob without separators, reporting a
// pattern that does not compile instead of failing to match.
func globMatchErr(pattern, val string) (bool, error) {
	g, err := glob.Compile(pattern)
	if err != nil {
		return false, err
	}
	return g.Match(val), nil
}

// splitServiceAccount reads a defaultServiceAccount, "name" (in
// namespace) or "ns:name".
func splitServiceAccount(value, namespace string) (saNamespace, saName string, err error) {
	if strings.TrimSpace(value) == "" {
		return "", "", fmt.Errorf("empty")
	}
	if strings.ContainsAny(value, " \t\r\n") {
		return "", "", fmt.Errorf("contains white space")
	}
	saNamespace, saName, qualified := strings.Cut(value, ":")
	if !qualified {
		if namespace == "" {
			return "", "", fmt.Errorf("names no namespace and the destination has none")
		}
		return namespace, value, nil
	}
	if saNamespace == "" || saName == "" || strings.Contains(saName, ":") {
		return "", "", fmt.Errorf(`want "name" or "namespace:name"`)
	}
	return saNamespace, saName, nil
}
