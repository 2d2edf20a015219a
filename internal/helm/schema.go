package helm

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	chart "helm.sh/helm/v4/pkg/chart/v2"
)

// validateSchemas checks values against the values.schema.json of the chart
// and of each subchart that has values, as Helm's ValidateAgainstSchema
// does, with the same messages. Helm's validator resolves references with
// loaders for file://, http:// and https:// URLs: a chart could make it
// read the controller's files or reach any address. Here a schema may refer
// only to itself and to the JSON Schema metaschemas (built into the
// validator); any other reference fails, naming it.
func validateSchemas(c *chart.Chart, values map[string]any) error {
	var sb strings.Builder
	if c.Schema != nil {
		if err := validateSchema(values, c.Schema); err != nil {
			fmt.Fprintf(&sb, "%s:\n%s", c.Name(), err.Error())
		}
	}
	for _, sub := range c.Dependencies() {
		raw, ok := values[sub.Name()]
		if !ok || raw == nil {
			continue
		}
		subValues, ok := raw.(map[string]any)
		if !ok {
			fmt.Fprintf(&sb, "%s:\ninvalid type for values: expected object (map), got %T\n", sub.Name(), raw)
			continue
		}
		if err := validateSchemas(sub, subValues); err != nil {
			sb.WriteString(err.Error())
		}
	}
	if sb.Len() > 0 {
		return errors.New(sb.String())
	}
	return nil
}

func validateSchema(values map[string]any, schemaJSON []byte) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("unable to validate schema: %v", r)
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return err
	}
	compiler := jsonschema.NewCompiler()
	compiler.UseLoader(refusingLoader{})
	if err := compiler.AddResource("file:///values.schema.json", doc); err != nil {
		return err
	}
	schema, err := compiler.Compile("file:///values.schema.json")
	if err != nil {
		return err
	}
	if err := schema.Validate(values); err != nil {
		// Helm's JSONSchemaValidationError message.
		msg := strings.TrimPrefix(err.Error(), "jsonschema validation failed with 'file:///values.schema.json#'\n")
		return errors.New(msg + "\n")
	}
	return nil
}

// refusingLoader loads nothing. Helm resolves "urn:" references with a
// permissive schema when nothing resolves them (its default), so does this.
type refusingLoader struct{}

func (refusingLoader) Load(url string) (any, error) {
	if strings.HasPrefix(url, "urn:") {
		return jsonschema.UnmarshalJSON(strings.NewReader("true"))
	}
	return nil, fmt.Errorf("schema reference %s refused: Ferry loads no schema from files or the network; a values.schema.json may refer only to itself", url)
}
