// Package validate checks what a GitOps repository deploys before it is
// merged: every unit the repository renders (the sources of each Application
// manifest, each Helm chart no Application renders, each kustomization root,
// each plain directory) is rendered with the controller's own renderer,
// then checked against the Kubernetes OpenAPI schemas of the pinned version
// and the CRDs the repository defines, built-in security rules, Rego
// policies (conftest-compatible) and, optionally, a server-side dry run.
package validate

import (
	"cmp"
	"slices"
)

// Severity ranks a finding.
type Severity string

// Severities, most severe first.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Rank orders severities: error 0, warning 1, info 2.
func (s Severity) Rank() int {
	switch s {
	case SeverityError:
		return 0
	case SeverityWarning:
		return 1
	}
	return 2
}

// Finding is one problem found in one object (or one file, when the file
// could not be rendered at all).
type Finding struct {
	// Rule identifies the check: "render", "schema", "dry-run", a security
	// rule id such as "FERRY-SEC-001", or "policy/<package>.<rule>".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Message says what is wrong, naming the field when there is one.
	Message string `json:"message"`
	// Fix is a one-line remedy, when the rule has one.
	Fix string `json:"fix,omitempty"`
	// File is the repository-relative path of the file the object comes
	// from; Line its 1-based line there, 0 when unknown.
	File string `json:"file"`
	Line int    `json:"line,omitempty"`
	// Object names the object: "apps/v1 Deployment staging/myapp"; empty for
	// a file that did not render.
	Object string `json:"object,omitempty"`
	// Unit is the rendered unit the object belongs to (see Unit.Name).
	Unit string `json:"unit"`
}

// Report is the result of validating a repository.
type Report struct {
	// Root is the repository directory validated.
	Root string `json:"root"`
	// Units are the units found, in discovery order, with their object counts.
	Units []UnitSummary `json:"units"`
	// Findings, sorted by file, line, object and rule.
	Findings []Finding `json:"findings"`
}

// UnitSummary is one rendered unit in a report.
type UnitSummary struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"` // "application", "chart", "kustomization" or "directory"
	Path    string `json:"path"`
	Objects int    `json:"objects"`
}

// Count returns the number of findings of severity s.
func (r *Report) Count(s Severity) int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == s {
			n++
		}
	}
	return n
}

// Sort orders the findings by file, line, object, rule and message.
func (r *Report) Sort() {
	slices.SortStableFunc(r.Findings, func(a, b Finding) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Object, b.Object),
			cmp.Compare(a.Rule, b.Rule), cmp.Compare(a.Message, b.Message))
	})
}
