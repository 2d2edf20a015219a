package validate

import (
	"context"
	"errors"
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

// PolicyOptions say which rules apply and what policies may do.
type PolicyOptions struct {
	// Namespaces are the Rego packages whose rules apply; default "main".
	Namespaces []string
	// AllowNetwork lets policies call the built-ins DisabledBuiltins lists
	// (--allow-policy-network): HTTP, DNS, the runtime, JSON schema $refs.
	AllowNetwork bool
}

// policyDir is a directory of policies, opened as an os.Root: no file
// outside it is read, a symbolic link leaving it included.
type policyDir struct {
	name string // how messages name the directory
	root *os.Root
}

// LoadPolicies reads every .rego file under dirs and prepares the query.
// Each directory is opened with os.OpenRoot: a symbolic link in it that
// points outside it is an error naming the link. A file that does not
// parse or compile is an error naming it and the line; so is a call to a
// built-in the sandbox disables (see DisabledBuiltins).
func LoadPolicies(ctx context.Context, dirs []string, opts PolicyOptions) (*Policies, error) {
	roots := make([]policyDir, 0, len(dirs))
	for _, dir := range dirs {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
		defer root.Close()
		roots = append(roots, policyDir{name: dir, root: root})
	}
	return loadPolicyDirs(ctx, roots, opts)
}

// loadPolicyDirs is LoadPolicies on directories already opened.
func loadPolicyDirs(ctx context.Context, dirs []policyDir, opts PolicyOptions) (*Policies, error) {
	namespaces := opts.Namespaces
	if len(namespaces) == 0 {
		namespaces = []string{"main"}
	}
	var (
		ropts []func(*rego.Rego)
		names []string
	)
	for _, dir := range dirs {
		names = append(names, dir.name)
		fsys := dir.root.FS()
		err := fs.WalkDir(fsys, ".", func(p string, e fs.DirEntry, err error) error {
			name := filepath.Join(dir.name, filepath.FromSlash(p))
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if e.IsDir() || !strings.HasSuffix(p, ".rego") || strings.HasSuffix(p, "_test.rego") {
				return nil
			}
			data, err := fs.ReadFile(fsys, p)
			if err != nil {
				if e.Type()&fs.ModeSymlink != 0 && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("%s: symbolic link not followed (policies are read only inside %s): %w", name, dir.name, err)
				}
				return fmt.Errorf("%s: %w", name, err)
			}
			m, err := parseModule(name, data)
			if err != nil {
				return err
			}
			ropts = append(ropts, rego.ParsedModule(m))
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("load policies: %w", err)
		}
	}
	if len(ropts) == 0 {
		return nil, fmt.Errorf("no .rego files in %s", strings.Join(names, ", "))
	}
	ropts = append(ropts, rego.Query("data"), rego.Capabilities(policyCapabilities(opts.AllowNetwork)))
	q, err := rego.New(ropts...).PrepareForEval(ctx)
	if err != nil {
		return nil, compileError(err)
	}
	return &Policies{query: q, namespaces: namespaces}, nil
}

// parseModule parses a Rego file as v1, then as v0; the v1 error is the one
// reported when neither works. METADATA comments are not processed: their
// schemas could "$ref" local files at compile time.
func parseModule(file string, data []byte) (*ast.Module, error) {
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
