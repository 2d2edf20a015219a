package render

import (
	"errors"
	"testing"

	manifestpkg "github.com/ferrycd/ferry/internal/manifest"
)

func TestSplitYAMLLines(t *testing.T) {
	docs, err := splitYAML("f.yaml", []byte("a: 1\n---\n\nb: 2\n--- # comment\r\nc: 3"))
	if err != nil {
		t.Fatal(err)
	}
	want := []yamlDocument{{1, []byte("a: 1\n")}, {3, []byte("\nb: 2\n")}, {6, []byte("c: 3")}}
	if len(docs) != len(want) {
		t.Fatalf("got %d documents, want %d", len(docs), len(want))
	}
	for i := range want {
		if docs[i].line != want[i].line || string(docs[i].data) != string(want[i].data) {
			t.Errorf("document %d = {%d %q}, want {%d %q}", i, docs[i].line, docs[i].data, want[i].line, want[i].data)
		}
	}
}

// FuzzDecodeManifests feeds untrusted bytes to the manifest decoder: it must not panic, must
// return either objects or an *Error, and every object must be a valid, deep-copyable
// unstructured object (DeepCopy panics on values JSON cannot hold, such as int).
func FuzzDecodeManifests(f *testing.F) {
	seeds := []string{
		"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n",
		"---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata: {name: s}\n",
		"apiVersion: v1\nkind: ConfigMapList\nitems:\n- metadata: {name: a}\n",
		"a: &x [*x]\n",
		"a: &a [1,2]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\n",
		"{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"j\"}}",
		"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: t, annotations: {d: 2001-12-14t21:59:43.10-05:00}}\n",
		"? [a, b]\n: c\n",
		"--- |\n  text\n",
		"\xef\xbb\xbfapiVersion: v1\n",
		"kind: List\nitems: [1, null, {}]\n",
		"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {n: 1e400, m: 18446744073709551616}\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "f.yaml"
		if asJSON {
			name = "f.json"
		}
		ms, err := decodeManifests(name, data)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.File != name {
				t.Fatalf("error %v (%T) is not an *Error naming %s", err, err, name)
			}
			if ms != nil {
				t.Fatalf("got objects with an error")
			}
			return
		}
		for _, m := range ms {
			if err := manifestpkg.Validate(m.obj.Object); err != nil {
				t.Fatalf("returned an invalid object: %v", err)
			}
			m.obj.DeepCopy()
			if _, err := m.obj.MarshalJSON(); err != nil {
				t.Fatalf("object does not encode: %v", err)
			}
		}
	})
}
