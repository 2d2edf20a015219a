package helm

import (
	"bytes"
	"path"
	"slices"
	"strings"
	"text/template/parse"

	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// lookupWarning is the one warning a render gives when the chart calls
// lookup, which returns an empty result without a cluster (as in `helm
// template`, and in Argo CD): the templates that call it, found by parsing
// them, or, when only a string rendered with tpl did (called says so), a
// warning without names. "" when the chart does not call it.
func lookupWarning(c *chart.Chart, called bool) string {
	names := lookupCallers(c)
	switch {
	case len(names) > 0:
		return "the chart calls lookup, which returns an empty result when rendering: " + strings.Join(names, ", ")
	case called:
		return "the chart calls lookup (in a string rendered with tpl), which returns an empty result when rendering"
	}
	return ""
}

// lookupCallers returns the templates, named as in "# Source:" lines, of c
// and its (enabled) subcharts that call lookup.
func lookupCallers(c *chart.Chart) []string {
	var names []string
	var visit func(*chart.Chart)
	visit = func(c *chart.Chart) {
		for _, t := range c.Templates {
			if t != nil && callsLookup(t.Data) {
				names = append(names, path.Join(c.ChartFullPath(), t.Name))
			}
		}
		for _, d := range c.Dependencies() {
			visit(d)
		}
	}
	visit(c)
	slices.Sort(names)
	return names
}

// callsLookup reports whether a template calls the lookup function. It
// parses the template (without checking function names) and looks for the
// identifier, so that a comment, a string or a value named lookup does not
// count.
func callsLookup(src []byte) bool {
	if !bytes.Contains(src, []byte("lookup")) {
		return false
	}
	trees := map[string]*parse.Tree{}
	t := parse.New("t")
	t.Mode = parse.SkipFuncCheck
	if _, err := t.Parse(string(src), "", "", trees); err != nil {
		return true // the engine reports the error; the word is there
	}
	for _, tree := range trees {
		if nodeCallsLookup(tree.Root) {
			return true
		}
	}
	return false
}

func nodeCallsLookup(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.ListNode:
		return n != nil && slices.ContainsFunc(n.Nodes, nodeCallsLookup)
	case *parse.ActionNode:
		return nodeCallsLookup(n.Pipe)
	case *parse.PipeNode:
		return n != nil && slices.ContainsFunc(n.Cmds, func(c *parse.CommandNode) bool { return nodeCallsLookup(c) })
	case *parse.CommandNode:
		return slices.ContainsFunc(n.Args, nodeCallsLookup)
	case *parse.ChainNode:
		return nodeCallsLookup(n.Node)
	case *parse.IdentifierNode:
		return n.Ident == "lookup"
	case *parse.IfNode:
		return branchCallsLookup(&n.BranchNode)
	case *parse.RangeNode:
		return branchCallsLookup(&n.BranchNode)
	case *parse.WithNode:
		return branchCallsLookup(&n.BranchNode)
	case *parse.TemplateNode:
		return nodeCallsLookup(n.Pipe)
	}
	return false
}

func branchCallsLookup(b *parse.BranchNode) bool {
	return nodeCallsLookup(b.Pipe) || nodeCallsLookup(b.List) || nodeCallsLookup(b.ElseList)
}
