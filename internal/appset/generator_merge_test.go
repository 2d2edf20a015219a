package appset

import (
	"testing"
)

func TestMerge(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name: "two generators on one key; later sets without a base match are dropped",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - list:
        elements:
        - {name: a, replicas: "1"}
        - {name: b, replicas: "1"}
        - {name: c, replicas: "1"}
    - list:
        elements:
        - {name: b, replicas: "3", extra: "yes"}
        - {name: z, replicas: "9"}
`,
			want: `
- {name: a, replicas: "1"}
- {name: b, replicas: "3", extra: "yes"}
- {name: c, replicas: "1"}
`,
		},
		{
			name: "three generators override in order",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - clusters: {}
    - list: {elements: [{name: c2, replicas: "3"}]}
    - list: {elements: [{name: c2, replicas: "5", zone: z1}, {name: c1, zone: z0}]}
`,
			clusters: pair,
			want: `
- {name: c1, nameNormalized: c1, server: "https://c1.example.com", project: "", metadata.labels.tier: a, zone: z0}
- {name: c2, nameNormalized: c2, server: "https://c2.example.com", project: "", metadata.labels.tier: b, replicas: "5", zone: z1}
`,
		},
		{
			name: "two merge keys",
			gens: `
- merge:
    mergeKeys: [app, env]
    generators:
    - list:
        elements:
        - {app: web, env: prod, size: s}
        - {app: web, env: dev, size: s}
        - {app: api, env: prod, size: s}
    - list:
        elements:
        - {app: web, env: prod, size: l}
        - {app: api, env: dev, size: xl}
`,
			want: `
- {app: web, env: prod, size: l}
- {app: web, env: dev, size: s}
- {app: api, env: prod, size: s}
`,
		},
		{
			name: "a merge nested in a matrix sees the earlier children's parameters",
			gens: `
- matrix:
    generators:
    - list: {elements: [{env: prod}]}
    - merge:
        mergeKeys: [name]
        generators:
        - clusters: {}
        - list: {elements: [{name: c2, note: '{{env}}-only'}]}
`,
			clusters: pair,
			want: `
- {env: prod, name: c1, nameNormalized: c1, server: "https://c1.example.com", project: "", metadata.labels.tier: a}
- {env: prod, name: c2, nameNormalized: c2, server: "https://c2.example.com", project: "", metadata.labels.tier: b, note: prod-only}
`,
		},
		{
			name: "goTemplate: a dotted merge key reaches into nested parameters; overrides merge deeply",
			gens: `
- merge:
    mergeKeys: [metadata.labels.tier]
    generators:
    - clusters: {}
    - list:
        elements:
        - metadata: {labels: {tier: b, extra: "1"}}
          replicas: 5
`,
			clusters: pair,
			goTmpl:   true,
			want: `
- name: c1
  nameNormalized: c1
  server: https://c1.example.com
  project: ""
  metadata: {labels: {tier: a}, annotations: {}}
- name: c2
  nameNormalized: c2
  server: https://c2.example.com
  project: ""
  metadata: {labels: {tier: b, extra: "1"}, annotations: {}}
  replicas: 5
`,
		},
		{
			name: "a base set without a merge key",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - list: {elements: [{name: a}, {other: b}]}
    - list: {elements: [{name: a}]}
`,
			wantErr: []string{`generators[0].merge.generators[0]: parameter set 1 has no merge key "name"`},
		},
		{
			name: "duplicate merge key values",
			gens: `
- merge:
    mergeKeys: [name]
    generators:
    - list: {elements: [{name: a}]}
    - list: {elements: [{name: b, x: "1"}, {name: b, x: "2"}]}
`,
			wantErr: []string{`generators[0].merge.generators[1]: parameter sets 0 and 1 have the same merge key values ["b"]`},
		},
		{
			name:    "no merge keys",
			gens:    `[{merge: {generators: [{list: {elements: [{a: b}]}}, {list: {elements: [{a: b}]}}]}}]`,
			wantErr: []string{`generators[0].merge: mergeKeys is empty`},
		},
		{
			name:    "fewer than two generators",
			gens:    `[{merge: {mergeKeys: [a], generators: [{list: {elements: [{a: b}]}}]}}]`,
			wantErr: []string{`generators[0].merge: needs at least two generators, has 1`},
		},
	})
}
