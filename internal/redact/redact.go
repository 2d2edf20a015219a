// Package redact is Ferry's one rule for keeping credentials that users put
// in URLs (https://user:token@host/repo) out of every output: conditions,
// events, logs, metric labels, notification bodies and CLI output.
//
// The rule: the user information of a URL is replaced by "***", except an
// ssh user name without a password ("git" in ssh://git@host/repo), which
// names an account and is not a secret. Hand-written: a few lines over the
// standard library; no library of this field offers it.
package redact

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
)

// URL returns s with its user information hidden by the rule above. s need
// not parse: a string without "://" (a path, scp-like git@host:org/repo)
// is returned as it is.
func URL(s string) string {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	authority, path := rest, ""
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority, path = rest[:i], rest[i:]
	}
	at := strings.LastIndex(authority, "@")
	if at < 0 {
		return s
	}
	if keep(scheme, authority[:at]) {
		return s
	}
	return scheme + "://***@" + authority[at+1:] + path
}

func keep(scheme, userinfo string) bool {
	return strings.EqualFold(scheme, "ssh") && !strings.Contains(userinfo, ":")
}

// urlUserinfo finds "scheme://userinfo@" inside free text: the userinfo runs
// to the last "@" before the next "/", space or quote, as a URL parser
// would read it.
var urlUserinfo = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.-]*)://([^/?#\s"'<>@]*(?:@[^/?#\s"'<>@]*)*)@`)

// Text hides the user information of every URL inside s (an error message,
// a rendered notification): the net under outputs whose text was built from
// raw URLs somewhere upstream.
func Text(s string) string {
	if !strings.Contains(s, "@") || !strings.Contains(s, "://") {
		return s
	}
	return urlUserinfo.ReplaceAllStringFunc(s, func(m string) string {
		sub := urlUserinfo.FindStringSubmatch(m)
		if keep(sub[1], sub[2]) {
			return m
		}
		return sub[1] + "://***@"
	})
}

// Recorder wraps an EventRecorder so that every event's note passes Text.
func Recorder(r events.EventRecorder) events.EventRecorder { return recorder{r} }

type recorder struct{ events.EventRecorder }

func (r recorder) Eventf(regarding, related runtime.Object, eventtype, reason, action, note string, args ...any) {
	r.EventRecorder.Eventf(regarding, related, eventtype, reason, action, "%s", Text(sprintf(note, args)))
}

func sprintf(format string, args []any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// SecretValues lists the values of a Secret that must never appear in an
// error about it: each data value as written (base64) and decoded, and each
// stringData value. Values shorter than 3 bytes are left out: hiding every
// "1" or "a" would garble messages and protect nothing. Other kinds have
// none.
func SecretValues(obj *unstructured.Unstructured) []string {
	if obj == nil || obj.GetKind() != "Secret" || obj.GroupVersionKind().Group != "" {
		return nil
	}
	var out []string
	add := func(v string) {
		if len(v) >= 3 {
			out = append(out, v)
		}
	}
	// NoCopy: only read, and a deep copy panics on values that are not
	// JSON-shaped.
	raw, _, _ := unstructured.NestedFieldNoCopy(obj.Object, "data")
	data, _ := raw.(map[string]any)
	for _, v := range data {
		s, ok := v.(string)
		if !ok {
			continue
		}
		add(s)
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			add(string(b))
		}
	}
	// stringData values, and every string inside a value that is not one
	// (the API server quotes a map given where a string belongs).
	raw, _, _ = unstructured.NestedFieldNoCopy(obj.Object, "stringData")
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case string:
			add(v)
		case map[string]any:
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(raw)
	for _, v := range data {
		if _, ok := v.(string); !ok {
			walk(v)
		}
	}
	return out
}

// Values returns err with every occurrence of values in its message
// replaced by "***" (longest first, so a value containing another is hidden
// whole). The original stays reachable through Unwrap for errors.Is/As
// (an API error's reason), never through Error.
func Values(err error, values []string) error {
	if err == nil || len(values) == 0 {
		return err
	}
	msg := err.Error()
	sorted := slices.Clone(values)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	clean := msg
	for _, v := range sorted {
		if v != "" { // ReplaceAll of "" would put *** between every byte
			clean = strings.ReplaceAll(clean, v, "***")
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbed{msg: clean, err: err}
}

type scrubbed struct {
	msg string
	err error
}

func (e *scrubbed) Error() string { return e.msg }
func (e *scrubbed) Unwrap() error { return e.err }

// Line is s on one line (runs of white space, newlines included, become
// one space) and at most max runes, the last being "…" when cut. What a
// remote server says (an error page, a registry's reply) reaches status,
// events and logs through Line only: a one-line reason, never the body.
func Line(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > max {
		return string(r[:max-1]) + "…"
	}
	return s
}

// LineError is err with its message passed through Line; errors.Is and
// errors.As still see err.
func LineError(err error, max int) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if short := Line(msg, max); short != msg {
		return &scrubbed{msg: short, err: err}
	}
	return err
}
