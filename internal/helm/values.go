package helm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/strvals"
	"sigs.k8s.io/yaml"
)

// Options are Argo CD's spec.source.helm fields, resolved to bytes by the
// caller: Render reads no file and fetches nothing.
type Options struct {
	// ReleaseName is .Release.Name; required (Argo CD uses the Application's
	// name unless spec.source.helm.releaseName is set). Helm's rules apply:
	// at most 53 characters, lowercase alphanumerics, '-' and '.'.
	ReleaseName string
	// Namespace is .Release.Namespace; "" means "default", as `helm
	// template` without --namespace (and without a kubeconfig) says.
	Namespace string
	// ValueFiles are spec.source.helm.valueFiles, in order (-f). Name is
	// only for error messages.
	ValueFiles []File
	// Values is spec.source.helm.values, a YAML document. Argo CD passes it
	// as the last value file, after ValueFiles.
	Values string
	// ValuesObject is spec.source.helm.valuesObject; when not nil it wins
	// over Values, as in Argo CD.
	ValuesObject map[string]any
	// Parameters are spec.source.helm.parameters: --set, or --set-string
	// when ForceString. As Argo CD keeps them in a map, the last of several
	// with the same name (and the same ForceString) wins.
	Parameters []Parameter
	// FileParameters are spec.source.helm.fileParameters (--set-file): Name
	// is the key, Data the file's content.
	FileParameters []File
	// KubeVersion is .Capabilities.KubeVersion, e.g. "1.37.2" or "v1.37.2";
	// "" keeps Helm's default (derived from the client-go version Ferry is
	// built with; v1.20.0 in test binaries).
	KubeVersion string
	// APIVersions are added to .Capabilities.APIVersions (Helm's defaults
	// stay): "apps/v1", "apps/v1/Deployment", ...
	APIVersions []string
	// SkipCRDs leaves out the crds/ directories (Argo CD passes
	// --include-crds unless spec.source.helm.skipCrds).
	SkipCRDs bool
	// SkipTests leaves out the test hooks (--skip-tests).
	SkipTests bool
	// SkipSchemaValidation does not check values against the charts'
	// values.schema.json (--skip-schema-validation).
	SkipSchemaValidation bool
}

// File is a value file, or the content of a --set-file parameter.
type File struct {
	// Name names the file in errors (a value file), or is the parameter's
	// key (a file parameter).
	Name string
	Data []byte
}

// Parameter is a --set (or --set-string) parameter.
type Parameter struct {
	Name, Value string
	// ForceString makes it --set-string: the value stays a string.
	ForceString bool
}

// values merges the user-supplied values as `helm template` does with
// Argo CD's flags: the value files in order, then Values or ValuesObject
// (Argo CD's last -f), then every --set, then every --set-string, then
// every --set-file (Helm applies them in that order, whatever the order of
// the flags).
func (o *Options) values() (map[string]any, error) {
	base := map[string]any{}
	merge := func(name string, data []byte) error {
		m, err := loader.LoadValues(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		base = loader.MergeMaps(base, m)
		return nil
	}
	for _, f := range o.ValueFiles {
		if err := merge("value file "+f.Name, f.Data); err != nil {
			return nil, err
		}
	}
	switch {
	case o.ValuesObject != nil:
		// As Argo CD, through YAML: the values read as a value file would be.
		j, err := json.Marshal(o.ValuesObject)
		if err != nil {
			return nil, fmt.Errorf("spec.source.helm.valuesObject: %w", err)
		}
		y, err := yaml.JSONToYAML(j)
		if err != nil {
			return nil, fmt.Errorf("spec.source.helm.valuesObject: %w", err)
		}
		if err := merge("spec.source.helm.valuesObject", y); err != nil {
			return nil, err
		}
	case o.Values != "":
		if err := merge("spec.source.helm.values", []byte(o.Values)); err != nil {
			return nil, err
		}
	}
	for _, p := range lastByName(o.Parameters, false) {
		if err := strvals.ParseInto(p.Name+"="+escapeCommas(p.Value), base); err != nil {
			return nil, fmt.Errorf("parameter %s: %w", p.Name, err)
		}
	}
	for _, p := range lastByName(o.Parameters, true) {
		if err := strvals.ParseIntoString(p.Name+"="+escapeCommas(p.Value), base); err != nil {
			return nil, fmt.Errorf("parameter %s (forceString): %w", p.Name, err)
		}
	}
	files := make([]Parameter, 0, len(o.FileParameters))
	data := make(map[string][]byte, len(o.FileParameters))
	for _, f := range o.FileParameters {
		files = append(files, Parameter{Name: f.Name})
		data[f.Name] = f.Data
	}
	for _, p := range lastByName(files, false) {
		content := string(data[p.Name])
		read := func([]rune) (any, error) { return content, nil }
		if err := strvals.ParseIntoFile(p.Name+"=file", base, read); err != nil {
			return nil, fmt.Errorf("file parameter %s: %w", p.Name, err)
		}
	}
	return base, nil
}

// lastByName returns the parameters of the given ForceString in order,
// keeping only the last of each name.
func lastByName(params []Parameter, forceString bool) []Parameter {
	last := map[string]int{}
	for i, p := range params {
		if p.ForceString == forceString {
			last[p.Name] = i
		}
	}
	var out []Parameter
	for i, p := range params {
		if p.ForceString == forceString && last[p.Name] == i {
			out = append(out, p)
		}
	}
	return out
}

// escapeCommas escapes the commas of a parameter's value that are not
// escaped already, so that a value holding a comma stays one value, as
// Argo CD does; a value in braces ("{a,b}", Helm's list syntax) is kept.
func escapeCommas(v string) string {
	if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
		return v
	}
	var b strings.Builder
	var prev rune
	for _, r := range v {
		if r == ',' && prev != '\\' {
			b.WriteString(`\,`)
		} else {
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}
