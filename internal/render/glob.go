package render

import (
	"fmt"
	"regexp"
	"strings"
)

// compileGlob compiles an Argo CD directory include/exclude pattern. Argo CD matches them with
// gobwas/glob and no separators, so '*' (and "**") match any run of characters including '/',
// '?' matches any one character, "[abc]", "[a-z]" and "[!a-z]" are classes, "{a,b}" are
// alternatives (they nest) and '\' escapes the next character. The pattern must match the whole
// path. The glob is translated to an anchored RE2 expression, so matching is linear-time whatever
// the pattern.
//
// Unlike Argo CD, which treats a pattern that does not compile as matching nothing, an invalid
// pattern is an error: silently including or excluding nothing is worse than a clear message.
func compileGlob(pattern string) (*regexp.Regexp, error) {
	g := globParser{in: []rune(pattern)}
	var re strings.Builder
	re.WriteString(`(?s)^`)
	if err := g.sequence(&re, 0); err != nil {
		return nil, fmt.Errorf("%w: glob %q: %v", ErrInvalidSource, pattern, err)
	}
	if g.pos < len(g.in) {
		return nil, fmt.Errorf("%w: glob %q: unexpected %q", ErrInvalidSource, pattern, g.in[g.pos])
	}
	re.WriteString(`$`)
	return regexp.Compile(re.String())
}

type globParser struct {
	in  []rune
	pos int
}

// maxGlobNesting bounds "{" nesting so a hostile pattern cannot exhaust the stack.
const maxGlobNesting = 32

// sequence translates pattern runes until the end of the input or, inside braces (depth > 0),
// until an unescaped ',' or '}' (left for the caller).
func (g *globParser) sequence(re *strings.Builder, depth int) error {
	for g.pos < len(g.in) {
		r := g.in[g.pos]
		switch {
		case depth > 0 && (r == ',' || r == '}'):
			return nil
		case r == '*':
			for g.pos < len(g.in) && g.in[g.pos] == '*' {
				g.pos++
			}
			re.WriteString(`.*`)
		case r == '?':
			g.pos++
			re.WriteString(`.`)
		case r == '[':
			if err := g.class(re); err != nil {
				return err
			}
		case r == '{':
			if err := g.alternatives(re, depth+1); err != nil {
				return err
			}
		case r == '\\':
			if g.pos+1 >= len(g.in) {
				return fmt.Errorf("trailing '\\'")
			}
			re.WriteString(regexp.QuoteMeta(string(g.in[g.pos+1])))
			g.pos += 2
		default:
			re.WriteString(regexp.QuoteMeta(string(r)))
			g.pos++
		}
	}
	if depth > 0 {
		return fmt.Errorf("unterminated '{'")
	}
	return nil
}

func (g *globParser) alternatives(re *strings.Builder, depth int) error {
	if depth > maxGlobNesting {
		return fmt.Errorf("'{' nested more than %d deep", maxGlobNesting)
	}
	g.pos++ // '{'
	re.WriteString(`(?:`)
	for {
		if err := g.sequence(re, depth); err != nil {
			return err
		}
		if g.in[g.pos] == '}' {
			g.pos++
			re.WriteString(`)`)
			return nil
		}
		g.pos++ // ','
		re.WriteString(`|`)
	}
}

func (g *globParser) class(re *strings.Builder) error {
	g.pos++ // '['
	re.WriteString(`[`)
	if g.pos < len(g.in) && (g.in[g.pos] == '!' || g.in[g.pos] == '^') {
		re.WriteString(`^`)
		g.pos++
	}
	empty := true
	for {
		if g.pos >= len(g.in) {
			return fmt.Errorf("unterminated '['")
		}
		if g.in[g.pos] == ']' && !empty {
			g.pos++
			re.WriteString(`]`)
			return nil
		}
		lo, err := g.classRune()
		if err != nil {
			return err
		}
		fmt.Fprintf(re, `\x{%x}`, lo)
		if g.pos+1 < len(g.in) && g.in[g.pos] == '-' && g.in[g.pos+1] != ']' {
			g.pos++
			hi, err := g.classRune()
			if err != nil {
				return err
			}
			if hi < lo {
				return fmt.Errorf("invalid range %c-%c", lo, hi)
			}
			fmt.Fprintf(re, `-\x{%x}`, hi)
		}
		empty = false
	}
}

func (g *globParser) classRune() (rune, error) {
	if g.in[g.pos] == '\\' {
		g.pos++
		if g.pos >= len(g.in) {
			return 0, fmt.Errorf("unterminated '['")
		}
	}
	r := g.in[g.pos]
	g.pos++
	return r, nil
}
