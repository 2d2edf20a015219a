package validate

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Formats are the output formats Write accepts.
var Formats = []string{"text", "json", "sarif", "junit"}

// WriteOptions tune the output.
type WriteOptions struct {
	// Format is one of Formats; empty means text.
	Format string
	// Color turns on ANSI colors in text output; the caller decides (on
	// when stdout is a terminal).
	Color bool
	// Version is the tool version, written as SARIF's tool.driver.version.
	Version string
}

// Write writes r in the chosen format. An unknown format is an error naming
// the valid ones.
func Write(w io.Writer, r *Report, opts WriteOptions) error {
	if r == nil {
		r = &Report{}
	}
	switch opts.Format {
	case "text", "":
		return writeText(w, r, opts.Color)
	case "json":
		return writeJSON(w, r)
	case "sarif":
		return writeSARIF(w, r, opts.Version)
	case "junit":
		return writeJUnit(w, r)
	}
	return fmt.Errorf("unknown output format %q (valid: %s)", opts.Format, strings.Join(Formats, ", "))
}

// noFile heads the findings that have no file, in text output.
const noFile = "(no file)"

// ANSI escape sequences for text output.
const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
)

// painter colors text when enabled.
type painter bool

func (p painter) paint(code, s string) string {
	if !p || s == "" {
		return s
	}
	return code + s + ansiReset
}

func (p painter) severity(s Severity, text string) string {
	switch s {
	case SeverityError:
		return p.paint(ansiRed, text)
	case SeverityWarning:
		return p.paint(ansiYellow, text)
	}
	return p.paint(ansiCyan, text)
}

// textColumns are the widths of the padded columns of text output, shared by
// all files so that the whole report lines up.
type textColumns struct{ line, severity, rule int }

func measure(findings []Finding) textColumns {
	var c textColumns
	for _, f := range findings {
		c.line = max(c.line, len(lineLabel(f.Line)))
		c.severity = max(c.severity, len(f.Severity))
		c.rule = max(c.rule, len(f.Rule))
	}
	return c
}

func lineLabel(line int) string {
	if line <= 0 {
		return "-"
	}
	return strconv.Itoa(line)
}

// writeText writes findings grouped by file, then a summary line. Columns are
// padded by hand rather than with text/tabwriter, which would count color
// escapes as width and restart its alignment at every header and fix line.
func writeText(w io.Writer, r *Report, color bool) error {
	p := painter(color)
	cols := measure(r.Findings)
	var b strings.Builder
	for _, file := range sortedFiles(r.Findings) {
		b.WriteString(p.paint(ansiBold, fileLabel(file)) + "\n")
		for _, f := range r.Findings {
			if f.File == file {
				writeTextFinding(&b, f, cols, p)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString(summaryLine(r, p) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func writeTextFinding(b *strings.Builder, f Finding, cols textColumns, p painter) {
	// Pad outside the color codes, so they never skew the columns.
	sev := p.severity(f.Severity, string(f.Severity)) + strings.Repeat(" ", cols.severity-len(f.Severity))
	fmt.Fprintf(b, "  %*s  %s  %-*s  %s\n", cols.line, lineLabel(f.Line), sev, cols.rule, f.Rule, objectMessage(f))
	if f.Fix != "" {
		fmt.Fprintf(b, "      fix: %s\n", f.Fix)
	}
}

// sortedFiles returns the distinct files of findings, sorted, with the empty
// file (findings without one) last.
func sortedFiles(findings []Finding) []string {
	var files []string
	for _, f := range findings {
		if !slices.Contains(files, f.File) {
			files = append(files, f.File)
		}
	}
	slices.Sort(files)
	if len(files) > 0 && files[0] == "" {
		files = append(files[1:], "")
	}
	return files
}

func fileLabel(file string) string {
	if file == "" {
		return noFile
	}
	return file
}

// objectMessage is "OBJECT: MESSAGE", or MESSAGE when there is no object.
func objectMessage(f Finding) string {
	if f.Object == "" {
		return f.Message
	}
	return f.Object + ": " + f.Message
}

// summaryLine is "3 units, 42 objects: 2 errors, 1 warning" or
// "3 units, 42 objects: no findings".
func summaryLine(r *Report, p painter) string {
	objects := 0
	for _, u := range r.Units {
		objects += u.Objects
	}
	head := plural(len(r.Units), "unit", "units") + ", " + plural(objects, "object", "objects") + ": "
	var counts []string
	for _, c := range []struct {
		sev          Severity
		one, several string
	}{
		{SeverityError, "error", "errors"},
		{SeverityWarning, "warning", "warnings"},
		{SeverityInfo, "info", "info"},
	} {
		if n := r.Count(c.sev); n > 0 {
			counts = append(counts, p.severity(c.sev, plural(n, c.one, c.several)))
		}
	}
	if len(counts) == 0 {
		return head + "no findings"
	}
	return head + strings.Join(counts, ", ")
}

func plural(n int, one, several string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + several
}

// jsonReport is the JSON output: the report plus its counts.
type jsonReport struct {
	Report
	Summary jsonSummary `json:"summary"`
}

type jsonSummary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Info     int `json:"info"`
}

func writeJSON(w io.Writer, r *Report) error {
	out := jsonReport{
		Report: *r,
		Summary: jsonSummary{
			Errors:   r.Count(SeverityError),
			Warnings: r.Count(SeverityWarning),
			Info:     r.Count(SeverityInfo),
		},
	}
	// Arrays, never null, so that consumers can iterate without checks.
	if out.Units == nil {
		out.Units = []UnitSummary{}
	}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	return encodeJSON(w, out)
}

// encodeJSON writes v indented, leaving <, > and & as they are: the output is
// read by people and tools, never embedded in HTML.
func encodeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// The SARIF 2.1.0 subset ferry writes. The schema is fixed and the subset
// small, so plain structs do: no SARIF library is needed. The fields are those
// GitHub code scanning reads.
type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool    sarifTool     `json:"tool"`
	Results []sarifResult `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name    string      `json:"name"`
	Version string      `json:"version,omitempty"`
	Rules   []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID               string     `json:"id"`
	ShortDescription sarifText  `json:"shortDescription"`
	Help             *sarifText `json:"help,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifResult struct {
	RuleID    string          `json:"ruleId"`
	Level     string          `json:"level"`
	Message   sarifText       `json:"message"`
	Locations []sarifLocation `json:"locations,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysicalLocation `json:"physicalLocation"`
}

type sarifPhysicalLocation struct {
	ArtifactLocation sarifArtifactLocation `json:"artifactLocation"`
	Region           *sarifRegion          `json:"region,omitempty"`
}

type sarifArtifactLocation struct {
	URI       string `json:"uri"`
	URIBaseID string `json:"uriBaseId"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

func writeSARIF(w io.Writer, r *Report, version string) error {
	results := make([]sarifResult, 0, len(r.Findings))
	for _, f := range r.Findings {
		results = append(results, sarifResultOf(r, f))
	}
	log := sarifLog{
		Schema:  "https://json.schemastore.org/sarif-2.1.0.json",
		Version: "2.1.0",
		Runs: []sarifRun{{
			Tool:    sarifTool{Driver: sarifDriver{Name: "ferry validate", Version: version, Rules: sarifRules(r.Findings)}},
			Results: results,
		}},
	}
	return encodeJSON(w, log)
}

// sarifRules returns the distinct rules of findings, sorted by id, each
// with the first fix given for it as help.
func sarifRules(findings []Finding) []sarifRule {
	rules := []sarifRule{}
	for _, f := range findings {
		i := slices.IndexFunc(rules, func(r sarifRule) bool { return r.ID == f.Rule })
		if i < 0 {
			rules = append(rules, sarifRule{ID: f.Rule, ShortDescription: sarifText{Text: f.Rule}})
			i = len(rules) - 1
		}
		if rules[i].Help == nil && f.Fix != "" {
			rules[i].Help = &sarifText{Text: f.Fix}
		}
	}
	slices.SortFunc(rules, func(a, b sarifRule) int { return cmp.Compare(a.ID, b.ID) })
	return rules
}

func sarifResultOf(r *Report, f Finding) sarifResult {
	res := sarifResult{RuleID: f.Rule, Level: sarifLevel(f.Severity), Message: sarifText{Text: objectMessage(f)}}
	path := f.File
	if path == "" {
		// GitHub rejects a whole file when one result has no location, so a
		// finding without a file points at its unit's directory.
		path = unitPath(r, f.Unit)
	}
	if path == "" {
		return res
	}
	loc := sarifLocation{PhysicalLocation: sarifPhysicalLocation{
		ArtifactLocation: sarifArtifactLocation{URI: relativeURI(path), URIBaseID: "%SRCROOT%"},
	}}
	if f.Line > 0 {
		loc.PhysicalLocation.Region = &sarifRegion{StartLine: f.Line}
	}
	res.Locations = []sarifLocation{loc}
	return res
}

func sarifLevel(s Severity) string {
	switch s {
	case SeverityError:
		return "error"
	case SeverityWarning:
		return "warning"
	}
	return "note"
}

// unitPath returns the path of the unit named name when it is relative to
// the repository, else "".
func unitPath(r *Report, name string) string {
	for _, u := range r.Units {
		if u.Name == name && u.Path != "" && filepath.IsLocal(u.Path) {
			return u.Path
		}
	}
	return ""
}

// relativeURI turns a repository-relative path into a relative URI
// reference: forward slashes, percent-encoded where needed.
func relativeURI(path string) string {
	return (&url.URL{Path: filepath.ToSlash(path)}).String()
}

// The JUnit XML ferry writes: the de facto schema CI systems read (Jenkins,
// GitLab, GitHub test reporters). Like SARIF, it is small and fixed, so
// encoding/xml and plain structs do.
type junitTestSuites struct {
	XMLName  xml.Name         `xml:"testsuites"`
	Name     string           `xml:"name,attr"`
	Tests    int              `xml:"tests,attr"`
	Failures int              `xml:"failures,attr"`
	Suites   []junitTestSuite `xml:"testsuite"`
}

type junitTestSuite struct {
	Name      string          `xml:"name,attr"`
	Tests     int             `xml:"tests,attr"`
	Failures  int             `xml:"failures,attr"`
	TestCases []junitTestCase `xml:"testcase"`
}

type junitTestCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr,omitempty"`
	Failure   *junitFailure `xml:"failure"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// otherSuite holds the findings whose unit is not in the report's units.
const otherSuite = "(other)"

func writeJUnit(w io.Writer, r *Report) error {
	out := junitTestSuites{Name: "ferry validate"}
	for _, u := range r.Units {
		out.Suites = append(out.Suites, junitSuite(u.Name, u.Objects, unitFindings(r, u.Name)))
	}
	if other := junitSuite(otherSuite, 0, otherFindings(r)); len(other.TestCases) > 0 {
		out.Suites = append(out.Suites, other)
	}
	for _, s := range out.Suites {
		out.Tests += s.Tests
		out.Failures += s.Failures
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// junitSuite builds the suite of one unit: one test case per error or
// warning; errors fail, warnings only print. Tests counts the unit's objects
// (at least 1, and at least the test cases written).
func junitSuite(name string, objects int, findings []Finding) junitTestSuite {
	s := junitTestSuite{Name: name}
	for _, f := range findings {
		tc := junitTestCase{Name: strings.TrimSpace(f.Object + " " + f.Rule), ClassName: f.File}
		switch f.Severity {
		case SeverityError:
			tc.Failure = &junitFailure{Message: f.Message, Type: f.Rule, Text: junitDetails(f)}
			s.Failures++
		case SeverityWarning:
			tc.SystemOut = junitDetails(f)
		default:
			continue
		}
		s.TestCases = append(s.TestCases, tc)
	}
	s.Tests = max(objects, len(s.TestCases), 1)
	return s
}

// junitDetails is the body of a failure or system-out: location, message
// and fix.
func junitDetails(f Finding) string {
	lines := []string{}
	if f.File != "" {
		loc := f.File
		if f.Line > 0 {
			loc += ":" + strconv.Itoa(f.Line)
		}
		lines = append(lines, loc)
	}
	lines = append(lines, f.Message)
	if f.Fix != "" {
		lines = append(lines, "fix: "+f.Fix)
	}
	return strings.Join(lines, "\n")
}

func unitFindings(r *Report, unit string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Unit == unit {
			out = append(out, f)
		}
	}
	return out
}

func otherFindings(r *Report) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if !slices.ContainsFunc(r.Units, func(u UnitSummary) bool { return u.Name == f.Unit }) {
			out = append(out, f)
		}
	}
	return out
}
