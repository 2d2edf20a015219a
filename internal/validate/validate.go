package validate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/ferrycd/ferry/internal/render"
)

// Options say what to check.
type Options struct {
	// Root is the repository checkout to validate. Nothing outside it is
	// read: symbolic links leaving it are refused.
	Root string
	// PolicyDirs hold Rego policies; empty means Root/policies when it
	// exists. Each is read as an os.Root (a symbolic link in it may not
	// leave it); Root/policies, and a directory inside Root, through the
	// repository's root, so that it may not be a link out of Root either.
	PolicyDirs []string
	// Namespaces are the Rego packages whose rules apply; default "main".
	Namespaces []string
	// AllowPolicyNetwork lets policies call the built-ins that reach the
	// network, files or the environment (DisabledBuiltins).
	AllowPolicyNetwork bool
	// Security tunes the built-in security rules.
	Security SecurityOptions
	// DryRun, when set, is asked to dry-run every object on a cluster.
	DryRun DryRunner
}

// DryRunner applies an object with dryRun=All; namespace is the one to
// give a namespaced object that names none. It returns nil, a problem with
// the object (a finding), or a Skip when the cluster cannot judge it: its
// namespace does not exist, or its kind is not served.
type DryRunner interface {
	DryRun(ctx context.Context, obj *unstructured.Unstructured, namespace string) error
}

// Skip is a dry run that could not judge an object, with the reason: the
// missing Namespace, or the Kind the cluster does not serve.
type Skip struct {
	Reason    string
	Namespace string
	Kind      schema.GroupVersionKind
}

func (s *Skip) Error() string { return s.Reason }

// item is one rendered object with where it comes from.
type item struct {
	unit   *Unit
	obj    *unstructured.Unstructured
	origin render.Origin
}

// Run validates the repository at opts.Root. The error is for problems with
// the run itself (an unreadable root, a policy that does not compile);
// problems with the repository's content are findings.
func Run(ctx context.Context, opts Options) (*Report, error) {
	root, err := os.OpenRoot(opts.Root)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", opts.Root, err)
	}
	defer root.Close()
	fsys := root.FS()
	units, findings, err := Discover(fsys)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", opts.Root, err)
	}
	policies, err := loadPolicies(ctx, root, opts)
	if err != nil {
		return nil, err
	}
	r := &Report{Root: opts.Root, Findings: findings}
	items := renderUnits(ctx, fsys, units, r)
	schemas, crdFindings, err := NewSchemas(crdsOf(items))
	if err != nil {
		return nil, err
	}
	r.Findings = append(r.Findings, crdFindings...)
	c := &checker{schemas: schemas, policies: policies, opts: opts, namespaces: namespacesOf(items)}
	for _, it := range items {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		f, err := c.check(ctx, it)
		if err != nil {
			return nil, err
		}
		r.Findings = append(r.Findings, f...)
	}
	r.Findings = dedupe(r.Findings)
	r.Sort()
	return r, nil
}

// loadPolicies reads the policies of opts. The repository's own, the
// default Root/policies or a --policy directory inside Root, are opened
// through root, the os.Root the renderer reads the repository with; others
// with os.OpenRoot.
func loadPolicies(ctx context.Context, root *os.Root, opts Options) (*Policies, error) {
	popts := PolicyOptions{Namespaces: opts.Namespaces, AllowNetwork: opts.AllowPolicyNetwork}
	var dirs []policyDir
	defer func() {
		for _, d := range dirs {
			d.root.Close()
		}
	}()
	if len(opts.PolicyDirs) == 0 {
		name := filepath.Join(opts.Root, "policies")
		st, err := root.Stat("policies")
		if errors.Is(err, fs.ErrNotExist) || (err == nil && !st.IsDir()) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load policies: %s: %w", name, err)
		}
		sub, err := root.OpenRoot("policies")
		if err != nil {
			return nil, fmt.Errorf("load policies: %s: %w", name, err)
		}
		dirs = append(dirs, policyDir{name: name, root: sub})
		return loadPolicyDirs(ctx, dirs, popts)
	}
	for _, dir := range opts.PolicyDirs {
		var (
			sub *os.Root
			err error
		)
		if rel, ok := within(opts.Root, dir); ok {
			sub, err = root.OpenRoot(rel)
		} else {
			sub, err = os.OpenRoot(dir)
		}
		if err != nil {
			return nil, fmt.Errorf("load policies: %s: %w", dir, err)
		}
		dirs = append(dirs, policyDir{name: dir, root: sub})
	}
	return loadPolicyDirs(ctx, dirs, popts)
}

// within returns dir relative to root when dir names a path inside root.
func within(root, dir string) (string, bool) {
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return "", false
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(absRoot, absDir)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return rel, true
}

// renderUnits renders every unit with the controller's renderer (same
// limits, same confinement), recording render failures as findings and the
// units in the report.
func renderUnits(ctx context.Context, fsys fs.FS, units []Unit, r *Report) []item {
	renderer := render.NewRenderer(render.Limits{})
	var items []item
	for i := range units {
		u := &units[i]
		renderFn := renderer.RenderWithOrigins
		if u.Source.Helm != nil {
			renderFn = renderer.Render // a chart's objects have no origin; a failure would render twice
		}
		res, err := renderFn(ctx, fsys, u.Source)
		summary := UnitSummary{Name: u.Name, Kind: u.Kind, Path: u.Path}
		if err != nil {
			f := renderFinding(u, err)
			if u.Source.Helm != nil {
				helmLocation(&f, u, fsys, err)
			}
			r.Findings = append(r.Findings, f)
		} else {
			for _, w := range res.Warnings { // a chart calling lookup, which finds nothing here
				r.Findings = append(r.Findings, Finding{Rule: "render", Severity: SeverityInfo, Unit: u.Name, File: u.Path, Message: w})
			}
			summary.Objects = len(res.Objects)
			for j, obj := range res.Objects {
				origin := render.Origin{File: u.Path}
				if j < len(res.Origins) {
					origin = res.Origins[j]
				}
				items = append(items, item{unit: u, obj: obj, origin: origin})
			}
		}
		r.Units = append(r.Units, summary)
	}
	return items
}

func renderFinding(u *Unit, err error) Finding {
	f := Finding{Rule: "render", Severity: SeverityError, Unit: u.Name, File: u.Path, Message: err.Error()}
	var re *render.Error
	if errors.As(err, &re) && re.File != "" && re.Err != nil {
		f.File, f.Line, f.Message = re.File, re.Line, re.Err.Error() // the file is in the finding, not twice
	}
	if u.Kind == UnitApplication {
		f.Message = fmt.Sprintf("source of the Application in %s:%d: %s", u.File, u.Line, f.Message)
	}
	return f
}

func crdsOf(items []item) []CRDSource {
	var out []CRDSource
	for _, it := range items {
		if it.obj.GetKind() == "CustomResourceDefinition" && it.obj.GroupVersionKind().Group == "apiextensions.k8s.io" {
			out = append(out, CRDSource{Object: it.obj, File: it.origin.File})
		}
	}
	return out
}

// namespacesOf lists the Namespaces the repository defines.
func namespacesOf(items []item) map[string]bool {
	out := map[string]bool{}
	for _, it := range items {
		if it.obj.GetKind() == "Namespace" && it.obj.GroupVersionKind().Group == "" {
			out[it.obj.GetName()] = true
		}
	}
	return out
}

// checker runs the per-object checks.
type checker struct {
	schemas    *Schemas
	policies   *Policies
	opts       Options
	namespaces map[string]bool
}

func (c *checker) check(ctx context.Context, it item) ([]Finding, error) {
	at := func(f Finding) Finding {
		f.File, f.Line, f.Object, f.Unit = it.origin.File, it.origin.Line, objectName(it.obj), it.unit.Name
		if f.File == "" {
			f.File = it.unit.Path
		}
		return f
	}
	var out []Finding
	problems, unknown := c.schemas.Check(it.obj)
	if unknown {
		out = append(out, at(Finding{Rule: "schema", Severity: SeverityWarning,
			Message: fmt.Sprintf("no schema for %s: not a Kubernetes %s kind, and no CRD in the repository defines it", it.obj.GroupVersionKind(), KubernetesVersion),
			Fix:     "add the CRD to the repository, or check apiVersion and kind"}))
	}
	for _, p := range problems {
		out = append(out, at(Finding{Rule: "schema", Severity: SeverityError, Message: p}))
	}
	for _, f := range CheckSecurity(it.obj, c.opts.Security) {
		out = append(out, at(f))
	}
	if c.policies != nil {
		results, err := c.policies.Evaluate(ctx, it.obj.Object)
		if err != nil {
			return nil, fmt.Errorf("evaluate policies on %s: %w", objectName(it.obj), err)
		}
		for _, res := range results {
			out = append(out, at(Finding{Rule: "policy/" + res.Rule, Severity: res.Severity, Message: res.Message}))
		}
	}
	if c.opts.DryRun != nil {
		if f, ok := c.dryRun(ctx, it); ok {
			out = append(out, at(f))
		}
	}
	return out, nil
}

func (c *checker) dryRun(ctx context.Context, it item) (Finding, bool) {
	ns := it.unit.Namespace
	err := c.opts.DryRun.DryRun(ctx, it.obj, ns)
	if err == nil {
		return Finding{}, false
	}
	var skip *Skip
	if errors.As(err, &skip) {
		// Fine when the repository creates what is missing (a sync applies
		// Namespaces and CRDs first); a problem when nothing will.
		if (skip.Namespace != "" && c.namespaces[skip.Namespace]) || (!skip.Kind.Empty() && c.schemas.definedByRepository(skip.Kind)) {
			return Finding{Rule: "dry-run", Severity: SeverityInfo, Message: "not dry-run: " + skip.Reason + " yet; the repository creates it"}, true
		}
		return Finding{Rule: "dry-run", Severity: SeverityError, Message: skip.Reason + ", and the repository does not create it"}, true
	}
	return Finding{Rule: "dry-run", Severity: SeverityError, Message: err.Error()}, true
}

// dedupe drops a finding reported again for the same file, line, object,
// rule and message by another unit (two Applications rendering one path).
func dedupe(fs []Finding) []Finding {
	type key struct {
		rule, file, object, message string
		line                        int
	}
	seen := map[key]bool{}
	out := fs[:0]
	for _, f := range fs {
		k := key{f.Rule, f.File, f.Object, f.Message, f.Line}
		if !seen[k] {
			seen[k] = true
			out = append(out, f)
		}
	}
	return out
}
