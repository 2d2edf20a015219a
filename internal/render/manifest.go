package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	manifestpkg "github.com/ferrycd/ferry/internal/manifest"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/yaml"
)

// manifest is one object decoded from a file, with its size as JSON (for Limits.MaxBytes).
type manifest struct {
	obj  *unstructured.Unstructured
	size int
	line int // 1-based line of the document in its file
}

// decodeManifests decodes one manifest file: a JSON object when file ends in ".json", otherwise
// a multi-document YAML stream. Empty documents are skipped and List kinds are expanded into
// their items. Every object must have apiVersion, kind and a name (or generateName). Errors are
// *Error values naming file and, when known, the line. It parses untrusted input and must never
// panic.
func decodeManifests(file string, data []byte) ([]manifest, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if strings.HasSuffix(file, ".json") {
		return decodeJSONFile(file, data)
	}
	return decodeYAMLFile(file, data)
}

func decodeJSONFile(file string, data []byte) ([]manifest, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(data)
	if err != nil {
		return nil, &Error{File: file, Line: jsonErrorLine(data, err), Err: fmt.Errorf("%w: %v", ErrInvalidManifest, err)}
	}
	return objectsFromValue(file, firstContentLine(data, 1), v, len(data))
}

func decodeYAMLFile(file string, data []byte) ([]manifest, error) {
	docs, err := splitYAML(file, data)
	if err != nil {
		return nil, err
	}
	var out []manifest
	for _, doc := range docs {
		j, err := yaml.YAMLToJSON(doc.data)
		if err != nil {
			line, msg := yamlErrorLine(err)
			if line > 0 {
				line += doc.line - 1
			} else {
				line = firstContentLine(doc.data, doc.line)
			}
			return nil, &Error{File: file, Line: line, Err: fmt.Errorf("%w: invalid YAML: %s", ErrInvalidManifest, msg)}
		}
		v, err := decodeJSON(j)
		if err != nil {
			return nil, &Error{File: file, Line: doc.line, Err: fmt.Errorf("%w: %v", ErrInvalidManifest, err)}
		}
		objs, err := objectsFromValue(file, firstContentLine(doc.data, doc.line), v, len(j))
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}

// yamlDocument is one document of a YAML stream and the 1-based line it starts on.
type yamlDocument struct {
	line int
	data []byte
}

// splitYAML splits a YAML stream on "---" separator lines, as Kubernetes' YAML reader does: only
// a comment may follow the separator on its line.
func splitYAML(file string, data []byte) ([]yamlDocument, error) {
	var docs []yamlDocument
	start, startLine := 0, 1
	line := 1
	for off := 0; off < len(data); line++ {
		end := bytes.IndexByte(data[off:], '\n')
		next := len(data)
		if end >= 0 {
			next = off + end + 1
		}
		text := data[off:next]
		if bytes.HasPrefix(text, []byte("---")) {
			rest := bytes.TrimSpace(text[3:])
			if len(rest) > 0 && rest[0] != '#' {
				return nil, &Error{File: file, Line: line, Err: fmt.Errorf(
					"%w: content after the document separator %q", ErrInvalidManifest, bytes.TrimSpace(text))}
			}
			docs = append(docs, yamlDocument{line: startLine, data: data[start:off]})
			start, startLine = next, line+1
		}
		off = next
	}
	docs = append(docs, yamlDocument{line: startLine, data: data[start:]})
	return docs, nil
}

// firstContentLine returns the line of the first line in data that is neither blank nor a
// comment, counting from line; the document's own line when there is none.
func firstContentLine(data []byte, line int) int {
	for n := line; len(data) > 0; n++ {
		text, rest, _ := bytes.Cut(data, []byte("\n"))
		if t := bytes.TrimSpace(text); len(t) > 0 && t[0] != '#' {
			return n
		}
		data = rest
	}
	return line
}

var yamlLineRE = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): `)

// yamlErrorLine extracts the document-relative line from a YAML parser error (the parser reports
// it only in the message) and returns the message without it.
func yamlErrorLine(err error) (int, string) {
	msg := err.Error()
	m := yamlLineRE.FindStringSubmatchIndex(msg)
	if m == nil {
		return 0, strings.TrimPrefix(msg, "error converting YAML to JSON: ")
	}
	line, convErr := strconv.Atoi(msg[m[2]:m[3]])
	if convErr != nil {
		return 0, msg
	}
	return line, msg[m[1]:]
}

// jsonErrorLine converts the byte offset of a JSON syntax error into a line.
func jsonErrorLine(data []byte, err error) int {
	offset := int64(-1)
	var syntax *json.SyntaxError
	var trailing *jsonTrailingError
	switch {
	case errors.As(err, &syntax):
		offset = syntax.Offset
	case errors.As(err, &trailing):
		offset = trailing.offset
	}
	if offset < 0 || offset > int64(len(data)) {
		return 0
	}
	return bytes.Count(data[:offset], []byte("\n")) + 1
}

// jsonTrailingError reports data after the single JSON value a manifest may hold.
type jsonTrailingError struct{ offset int64 }

func (e *jsonTrailingError) Error() string {
	return fmt.Sprintf("unexpected data after the JSON value (offset %d)", e.offset)
}

// decodeJSON decodes exactly one JSON value into the types unstructured objects hold (int64 and
// float64 numbers). It returns nil for "null".
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &jsonTrailingError{offset: dec.InputOffset()}
	}
	if err := utiljson.ConvertInterfaceNumbers(&v, 0); err != nil {
		return nil, err
	}
	return v, nil
}

// objectsFromValue turns one decoded document into objects, expanding lists. line is where the
// document starts; size is its size as JSON.
func objectsFromValue(file string, line int, v any, size int) ([]manifest, error) {
	if v == nil {
		return nil, nil // empty document
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &Error{File: file, Line: line, Err: fmt.Errorf(
			"%w: document is a %s, not a Kubernetes object", ErrInvalidManifest, manifestpkg.JSONKind(v))}
	}
	items, isList, err := manifestpkg.Objects(m)
	if err != nil {
		return nil, &Error{File: file, Line: line, Err: err}
	}
	if !isList {
		return []manifest{{obj: &unstructured.Unstructured{Object: m}, size: size, line: line}}, nil
	}
	out := make([]manifest, 0, len(items))
	for _, item := range items {
		// Each item is accounted for with its share of the list's size.
		out = append(out, manifest{obj: &unstructured.Unstructured{Object: item}, size: size / len(items), line: line})
	}
	return out, nil
}
