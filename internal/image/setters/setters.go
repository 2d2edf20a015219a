// Package setters applies Flux image automation "Setters" markers to YAML
// files, keeping every byte of a file other than the replaced values as it
// was.
//
// A marker is a YAML comment holding a JSON object such as
// {"$imagepolicy": "flux-system:myapp"}; the suffixes ":tag" and ":name"
// select the tag or the image name alone. As in Flux, the marker may be the
// line comment of the value. Ferry also accepts it on its own comment line
// directly above the field (or above a scalar sequence item).
//
// Files are parsed with kyaml's yaml.v3 nodes only to locate the values to
// change; the new values are then spliced into the original bytes at the
// nodes' line and column, so comments, ordering, quoting, indentation, blank
// lines and line endings survive untouched.
package setters

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"sigs.k8s.io/kustomize/kyaml/yaml"
)

// markerKey is the JSON key of a Setters marker.
const markerKey = "$imagepolicy"

// Image is a policy's chosen image: Name "registry.example.com/myapp", Tag "1.2.4".
type Image struct{ Name, Tag string }

// String returns the full image reference "name:tag", or the name alone
// when there is no tag.
func (i Image) String() string {
	if i.Tag == "" {
		return i.Name
	}
	return i.Name + ":" + i.Tag
}

// Change is one value replaced.
type Change struct {
	File     string // path relative to the root given to Apply, forward slashes
	Line     int    // 1-based
	Policy   string // "flux-system:myapp"
	Old, New string
}

// Result is what Apply did.
type Result struct {
	Files   map[string][]byte // new contents of the files that changed, by relative path
	Changes []Change          // in file then line order
	Skipped []string          // files that did not parse, with the reason: "path: reason"
}

// Apply walks dir (a path inside fsys, "." for the root; Flux's update.path
// like "./apps" works after cleaning) and applies the markers whose policy is
// in images (key "namespace:name"). Markers naming unknown policies are left
// alone. A value already equal to the new one is not a change. It never
// writes: the caller writes Result.Files.
//
// Only regular files named *.yaml or *.yml are considered, and only those
// that mention "$imagepolicy" are parsed; ".git" directories are not
// entered. Paths in the Result are relative to the root of fsys. A file that
// does not parse, or whose rewrite cannot be verified, is reported in
// Result.Skipped and left out of Result.Files.
func Apply(fsys fs.FS, dir string, images map[string]Image) (Result, error) {
	root := cleanDir(dir)
	res := Result{Files: map[string][]byte{}}
	err := fs.WalkDir(fsys, root, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".git" {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || !isYAMLName(name) {
			return nil
		}
		return res.addFile(fsys, name, images)
	})
	if err != nil {
		return Result{}, fmt.Errorf("walking %s: %w", root, err)
	}
	slices.SortStableFunc(res.Changes, func(a, b Change) int {
		if c := strings.Compare(a.File, b.File); c != 0 {
			return c
		}
		return a.Line - b.Line
	})
	return res, nil
}

// cleanDir turns an update path such as "./apps", "apps/" or "" into an
// fs.FS path. Like Flux's secure join, ".." cannot climb above the root.
func cleanDir(dir string) string {
	d := strings.TrimPrefix(path.Clean("/"+dir), "/")
	if d == "" {
		return "."
	}
	return d
}

// isYAMLName reports whether a file name has a YAML extension.
func isYAMLName(name string) bool {
	return strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml")
}

// addFile applies the markers of one file and records the outcome.
func (r *Result) addFile(fsys fs.FS, name string, images map[string]Image) error {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return err
	}
	if !bytes.Contains(src, []byte(markerKey)) {
		return nil
	}
	out, changes, err := rewrite(src, images)
	if err != nil {
		r.Skipped = append(r.Skipped, name+": "+err.Error())
		return nil
	}
	if len(changes) == 0 {
		return nil
	}
	r.Files[name] = out
	for _, c := range changes {
		c.File = name
		r.Changes = append(r.Changes, c)
	}
	return nil
}

// target is a marked scalar and the value its policy wants.
type target struct {
	node   *yaml.Node
	policy string
	value  string
}

// rewrite returns src with every marked value set, and the changes made.
// The result is parsed again to check that each marked value now reads as
// the new one.
func rewrite(src []byte, images map[string]Image) ([]byte, []Change, error) {
	targets, err := locate(src, images)
	if err != nil {
		return nil, nil, err
	}
	out, changes, err := splice(src, targets)
	if err != nil || len(changes) == 0 {
		return nil, nil, err
	}
	if err := verify(out, images, len(targets)); err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// verify checks that out parses and that its marked values are all current.
func verify(out []byte, images map[string]Image, want int) error {
	targets, err := locate(out, images)
	if err != nil {
		return fmt.Errorf("rewritten file does not parse: %w", err)
	}
	if len(targets) != want {
		return fmt.Errorf("rewritten file has %d markers, want %d", len(targets), want)
	}
	for _, t := range targets {
		if t.node.Value != t.value {
			return fmt.Errorf("line %d: rewritten value reads %q, want %q", t.node.Line, t.node.Value, t.value)
		}
	}
	return nil
}

// locate parses every document of src and returns the marked scalars whose
// policy is known, in document order.
func locate(src []byte, images map[string]Image) ([]target, error) {
	docs, err := decodeAll(src)
	if err != nil {
		return nil, err
	}
	w := &walker{lines: newLines(src), images: images}
	for _, d := range docs {
		w.visit(d)
	}
	return w.targets, nil
}

// decodeAll decodes all the documents of a YAML stream.
func decodeAll(src []byte) ([]*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var docs []*yaml.Node
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		docs = append(docs, &n)
	}
}

// walker finds marked scalars in a parsed file, visiting the nodes in
// source order.
//
// yaml.v3 does not attach a comment line above a field consistently: in a
// plain mapping it is the key's head comment, but inside a sequence item it
// becomes the foot comment of the previous key, or of the first key itself,
// and after "---" the foot comment of the previous document. So a comment
// line above a field is read from the source, at the line above the field's
// node.
type walker struct {
	lines   lines
	images  map[string]Image
	last    *yaml.Node // the last key or scalar visited
	targets []target
}

// visit looks for marked scalars in n and its descendants.
func (w *walker) visit(n *yaml.Node) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			w.visit(c)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			w.entry(n.Content[i+1], n.Content[i])
		}
	case yaml.SequenceNode:
		for _, c := range n.Content {
			w.entry(c, c)
		}
	}
}

// entry handles a mapping value or sequence item n; field is the node that
// starts the entry in the source: the key, or the item itself.
func (w *walker) entry(n, field *yaml.Node) {
	above := w.above(field)
	w.last = field
	if n.Kind != yaml.ScalarNode {
		w.visit(n)
		return
	}
	w.last = n
	policy, part, ok := marker(n, above)
	if !ok {
		return
	}
	if img, ok := w.images[policy]; ok {
		w.targets = append(w.targets, target{node: n, policy: policy, value: part.of(img)})
	}
}

// marker returns the marker of a scalar: its line comment (Flux's form), the
// last line of its head comment, or the comment line above its field.
func marker(n *yaml.Node, above string) (string, part, bool) {
	for _, c := range []string{n.LineComment, lastLine(n.HeadComment), above} {
		if policy, p, ok := parseMarker(c); ok {
			return policy, p, true
		}
	}
	return "", 0, false
}

// above returns the comment on the line directly above field when field is
// the first node on its line (after indentation and "- " indicators), or "".
// A line that only looks like a comment because it is inside the multi-line
// scalar visited just before (a block scalar, typically) is not a comment.
func (w *walker) above(field *yaml.Node) string {
	if field.Line < 2 || w.lines.firstColumn(field.Line) != field.Column {
		return ""
	}
	l := w.lines.text(field.Line - 1)
	c := string(bytes.TrimSpace(l[indicatorLen(l):]))
	if !strings.HasPrefix(c, "#") || w.last != nil && strings.Contains(w.last.Value, c) {
		return ""
	}
	return c
}

// lastLine returns the last non-empty line of a comment.
func lastLine(c string) string {
	c = strings.TrimRight(c, "\n")
	return c[strings.LastIndex(c, "\n")+1:]
}

// part is what a marker sets: the full reference, the tag or the name.
type part int

const (
	partFull part = iota
	partTag
	partName
)

// of returns the part of img a marker sets.
func (p part) of(img Image) string {
	switch p {
	case partTag:
		return img.Tag
	case partName:
		return img.Name
	}
	return img.String()
}

// parseMarker parses a comment such as `# {"$imagepolicy": "ns:name:tag"}`.
// As in Flux, the whole comment must be the JSON object.
func parseMarker(comment string) (string, part, bool) {
	c := strings.TrimLeft(strings.TrimSpace(comment), "#")
	if !strings.Contains(c, markerKey) {
		return "", 0, false
	}
	var m map[string]string
	if json.Unmarshal([]byte(c), &m) != nil {
		return "", 0, false
	}
	f := strings.Split(m[markerKey], ":")
	if len(f) < 2 || len(f) > 3 || f[0] == "" || f[1] == "" {
		return "", 0, false
	}
	policy := f[0] + ":" + f[1]
	if len(f) == 2 {
		return policy, partFull, true
	}
	switch f[2] {
	case "tag":
		return policy, partTag, true
	case "name":
		return policy, partName, true
	}
	return "", 0, false
}

// edit replaces src[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// splice applies the targets whose value differs to src.
func splice(src []byte, targets []target) ([]byte, []Change, error) {
	ls := newLines(src)
	var edits []edit
	var changes []Change
	for _, t := range targets {
		if t.node.Value == t.value {
			continue
		}
		e, err := ls.edit(t.node, t.value)
		if err != nil {
			return nil, nil, err
		}
		edits = append(edits, e)
		changes = append(changes, Change{Line: t.node.Line, Policy: t.policy, Old: t.node.Value, New: t.value})
	}
	slices.SortFunc(edits, func(a, b edit) int { return a.start - b.start })
	var out bytes.Buffer
	last := 0
	for _, e := range edits {
		if e.start < last {
			return nil, nil, fmt.Errorf("overlapping values at byte %d", e.start)
		}
		out.Write(src[last:e.start])
		out.WriteString(e.text)
		last = e.end
	}
	out.Write(src[last:])
	return out.Bytes(), changes, nil
}

// lines indexes the lines of a source the way yaml.v3 counts them.
type lines struct {
	src    []byte
	starts []int // byte offset of each line; line n starts at starts[n-1]
	ends   []int // byte offset of each line's break
}

// newLines indexes src. Like yaml.v3 it counts CRLF, CR, LF, NEL, LS and PS
// as line breaks, and does not count a leading byte order mark as a column.
func newLines(src []byte) lines {
	ls := lines{src: src, starts: []int{0}}
	if bytes.HasPrefix(src, []byte("\ufeff")) {
		ls.starts[0] = 3
	}
	for i := ls.starts[0]; i < len(src); {
		n := breakLen(src[i:])
		if n == 0 {
			i++
			continue
		}
		ls.ends = append(ls.ends, i)
		i += n
		ls.starts = append(ls.starts, i)
	}
	ls.ends = append(ls.ends, len(src))
	return ls
}

// breakLen returns the length of the line break b starts with, or 0.
func breakLen(b []byte) int {
	switch {
	case bytes.HasPrefix(b, []byte("\r\n")):
		return 2
	case b[0] == '\r' || b[0] == '\n':
		return 1
	case bytes.HasPrefix(b, []byte("\u0085")):
		return 2
	case bytes.HasPrefix(b, []byte("\u2028")), bytes.HasPrefix(b, []byte("\u2029")):
		return 3
	}
	return 0
}

// text returns line n (1-based) without its break, or nil.
func (ls lines) text(n int) []byte {
	if n < 1 || n > len(ls.starts) {
		return nil
	}
	return ls.src[ls.starts[n-1]:ls.ends[n-1]]
}

// offset returns the byte offset of line n, column col (1-based, counted in
// characters as yaml.v3 does).
func (ls lines) offset(n, col int) (int, bool) {
	l := ls.text(n)
	i := 0
	for ; col > 1 && i < len(l); col-- {
		_, size := utf8.DecodeRune(l[i:])
		i += size
	}
	if col > 1 || l == nil {
		return 0, false
	}
	return ls.starts[n-1] + i, true
}

// indicatorLen returns the length of the indentation and block sequence
// indicators ("- ") that start l.
func indicatorLen(l []byte) int {
	i := 0
	for i < len(l) {
		switch {
		case l[i] == ' ' || l[i] == '\t':
			i++
		case l[i] == '-' && (i+1 == len(l) || l[i+1] == ' ' || l[i+1] == '\t'):
			i++
		default:
			return i
		}
	}
	return i
}

// firstColumn returns the column of the first node on line n.
func (ls lines) firstColumn(n int) int {
	l := ls.text(n)
	return utf8.RuneCount(l[:indicatorLen(l)]) + 1
}

// edit returns the edit that sets the scalar n to value in the source.
func (ls lines) edit(n *yaml.Node, value string) (edit, error) {
	start, ok := ls.offset(n.Line, n.Column)
	if !ok {
		return edit{}, fmt.Errorf("line %d: no column %d", n.Line, n.Column)
	}
	l := ls.src[start:ls.ends[n.Line-1]]
	skip := propertiesLen(l)
	raw, ok := scalarText(l[skip:], n)
	if !ok {
		return edit{}, fmt.Errorf("line %d: cannot rewrite value %q in place", n.Line, n.Value)
	}
	start += skip
	return edit{start: start, end: start + len(raw), text: render(n.Style, value)}, nil
}

// propertiesLen returns the length of the tag and anchor (with the blanks
// after them) that l starts with.
func propertiesLen(l []byte) int {
	i := 0
	for i < len(l) && (l[i] == '!' || l[i] == '&') {
		for i < len(l) && l[i] != ' ' && l[i] != '\t' {
			i++
		}
		for i < len(l) && (l[i] == ' ' || l[i] == '\t') {
			i++
		}
	}
	return i
}

// scalarText returns the source text of the single-line scalar n at the
// start of l, checking that it reads as n's value.
func scalarText(l []byte, n *yaml.Node) ([]byte, bool) {
	var raw []byte
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return nil, false
	case n.Style&yaml.DoubleQuotedStyle != 0:
		raw = quoted(l, '"')
	case n.Style&yaml.SingleQuotedStyle != 0:
		raw = quoted(l, '\'')
	default:
		// An empty plain scalar has no text to replace, and its position is
		// that of whatever follows it.
		if n.Value == "" || !bytes.HasPrefix(l, []byte(n.Value)) {
			return nil, false
		}
		return l[:len(n.Value)], true
	}
	var v string
	if raw == nil || yaml.Unmarshal(raw, &v) != nil || v != n.Value {
		return nil, false
	}
	return raw, true
}

// quoted returns the quoted scalar at the start of l, quotes included, or
// nil when it does not end on this line.
func quoted(l []byte, q byte) []byte {
	if len(l) == 0 || l[0] != q {
		return nil
	}
	for i := 1; i < len(l); i++ {
		switch {
		case q == '"' && l[i] == '\\':
			i++
		case l[i] == q && q == '\'' && i+1 < len(l) && l[i+1] == '\'':
			i++
		case l[i] == q:
			return l[:i+1]
		}
	}
	return nil
}

// render writes value in the quoting style of the scalar it replaces; a
// plain value is double-quoted only when it would not read back as the same
// string.
func render(style yaml.Style, value string) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return strconv.Quote(value)
	case style&yaml.SingleQuotedStyle != 0 && !strings.ContainsFunc(value, isControl):
		return "'" + strings.ReplaceAll(value, "'", "''") + "'"
	case style&yaml.SingleQuotedStyle == 0 && plainSafe(value):
		return value
	}
	return strconv.Quote(value)
}

// isControl reports whether r cannot appear in a single-quoted scalar.
func isControl(r rune) bool {
	return r < ' ' || r == 0x7f
}

// plainSafe reports whether value, written plain, reads back as the same
// string both in block and in flow context, and is not a YAML 1.1 keyword
// or number.
func plainSafe(value string) bool {
	if value == "" || yaml.IsValueNonString(value) {
		return false
	}
	for _, doc := range []string{"k: " + value + "\n", "[" + value + "]\n"} {
		var n yaml.Node
		if yaml.Unmarshal([]byte(doc), &n) != nil || len(n.Content) != 1 {
			return false
		}
		c := n.Content[0].Content
		s := c[len(c)-1]
		if len(c) > 2 || s.Kind != yaml.ScalarNode || s.Tag != "!!str" || s.Value != value || s.Style != 0 {
			return false
		}
	}
	return true
}
