package validate

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Policies are Rego policies evaluated the way conftest evaluates them: for
// each object (the input), the rules named deny, violation and warn (or
// starting with deny_, violation_, warn_) of the chosen packages (default
// "main") produce messages, either strings or objects with a "msg" field.
// deny and violation are errors, warn is a warning. Files in Rego v1 syntax
// and in the older v0 syntax (deny[msg] { … }) are both accepted, as
// conftest users have both.
type Policies struct {
	query      rego.PreparedEvalQuery
	namespaces []string
}

// LoadPolicies reads every .rego file under dirs and prepares the query.
// A file that does not parse or compile is an error naming it and the line.
func LoadPolicies(ctx context.Context, dirs, namespaces []string) (*Policies, error) {
	if len(namespaces) == 0 {
		namespaces = []string{"main"}
	}
	var opts []func(*rego.Rego)
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if e.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
				return nil
			}
			m, err := parseModule(p)
			if err != nil {
				return err
			}
			opts = append(opts, rego.ParsedModule(m))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
	}
	if len(opts) == 0 {
		return nil, fmt.Errorf("no .rego files in %s", strings.Join(dirs, ", "))
	}
	opts = append(opts, rego.Query("data"))
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile policies: %w", err)
	}
	return &Policies{query: q, namespaces: namespaces}, nil
}

// parseModule parses a Rego file as v1, then as v0; the v1 error is the one
// reported when neither works.
func parseModule(file string) (*ast.Module, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	m, err := ast.ParseModuleWithOpts(file, string(data), ast.ParserOptions{RegoVersion: ast.RegoV1})
	if err == nil {
		return m, nil
	}
	if m0, err0 := ast.ParseModuleWithOpts(file, string(data), ast.ParserOptions{RegoVersion: ast.RegoV0}); err0 == nil {
		return m0, nil
	}
	return nil, err
}

// Result is one message of one rule.
type PolicyResult struct {
	Rule     string // "main.deny"
	Severity Severity
	Message  string
}

// Evaluate runs the policies on one object.
func (p *Policies) Evaluate(ctx context.Context, input map[string]any) ([]PolicyResult, error) {
	rs, err := p.query.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil, nil
	}
	data, _ := rs[0].Expressions[0].Value.(map[string]any)
	var out []PolicyResult
	for _, ns := range p.namespaces {
		pkg := lookup(data, strings.Split(ns, "."))
		rules := make([]string, 0, len(pkg))
		for name := range pkg {
			rules = append(rules, name)
		}
		sort.Strings(rules)
		for _, name := range rules {
			sev, ok := ruleSeverity(name)
			if !ok {
				continue
			}
			for _, msg := range messages(pkg[name]) {
				out = append(out, PolicyResult{Rule: ns + "." + name, Severity: sev, Message: msg})
			}
		}
	}
	return out, nil
}

func lookup(data map[string]any, path []string) map[string]any {
	for _, k := range path {
		next, ok := data[k].(map[string]any)
		if !ok {
			return nil
		}
		data = next
	}
	return data
}

// ruleSeverity maps conftest's rule names to severities.
func ruleSeverity(name string) (Severity, bool) {
	for prefix, sev := range map[string]Severity{"deny": SeverityError, "violation": SeverityError, "warn": SeverityWarning} {
		if name == prefix || strings.HasPrefix(name, prefix+"_") {
			return sev, true
		}
	}
	return "", false
}

// messages reads a rule's value: a set (array) of strings or of objects
// with "msg", or a single such value; a rule that is just true reports its
// name's meaning with a generic message.
func messages(v any) []string {
	var out []string
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			out = append(out, messages(e)...)
		}
	case string:
		out = append(out, t)
	case map[string]any:
		if msg, ok := t["msg"].(string); ok {
			out = append(out, msg)
		}
	case bool:
		if t {
			out = append(out, "policy rule matched")
		}
	}
	slices.Sort(out)
	return out
}
