package appset

import (
	"testing"
)

func TestMatrix(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name: "git directories × clusters × list",
			gens: `
- matrix:
    generators:
    - git:
        repoURL: https://git.example.com/platform.git
        revision: main
        directories:
        - path: apps/*
        - {path: apps/legacy, exclude: true}
        - {path: apps/My_App, exclude: true}
    - clusters: {}
    - list:
        elements:
        - team: core
`,
			clusters: pair,
			want: `
- path: apps/api
  path.basename: api
  path.basenameNormalized: api
  "path[0]": apps
  "path[1]": api
  name: c1
  nameNormalized: c1
  server: https://c1.example.com
  project: ""
  metadata.labels.tier: a
  team: core
- path: apps/api
  path.basename: api
  path.basenameNormalized: api
  "path[0]": apps
  "path[1]": api
  name: c2
  nameNormalized: c2
  server: https://c2.example.com
  project: ""
  metadata.labels.tier: b
  team: core
- path: apps/web
  path.basename: web
  path.basenameNormalized: web
  "path[0]": apps
  "path[1]": web
  name: c1
  nameNormalized: c1
  server: https://c1.example.com
  project: ""
  metadata.labels.tier: a
  team: core
- path: apps/web
  path.basename: web
  path.basenameNormalized: web
  "path[0]": apps
  "path[1]": web
  name: c2
  nameNormalized: c2
  server: https://c2.example.com
  project: ""
  metadata.labels.tier: b
  team: core
`,
		},
		{
			name: "a later child's spec uses an earlier child's parameters; equal values do not conflict",
			gens: `
- matrix:
    generators:
    - list:
        elements: [{env: prod}, {env: staging}]
    - git:
        repoURL: https://git.example.com/platform.git
        revision: main
        files:
        - path: 'envs/{{env}}/config.*'
`,
			want: `
- env: prod
  replicas: "3"
  region.name: eu-west
  path: envs/prod
  path.basename: prod
  path.basenameNormalized: prod
  path.filename: config.json
  path.filenameNormalized: config.json
  "path[0]": envs
  "path[1]": prod
- env: staging
  replicas: "1"
  region.name: us-east
  path: envs/staging
  path.basename: staging
  path.basenameNormalized: staging
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": staging
`,
		},
		{
			name: "nested matrices see the outer and the earlier sibling parameters",
			gens: `
- matrix:
    generators:
    - list:
        elements: [{a: "1"}, {a: "2"}]
    - matrix:
        generators:
        - list:
            elements: [{b: x}]
        - matrix:
            generators:
            - list:
                elements: [{c: '{{a}}-{{b}}'}]
            - list:
                elements: [{d: '{{c}}!'}, {d: '{{ c }}?'}]
`,
			want: `
- {a: "1", b: x, c: 1-x, d: "1-x!"}
- {a: "1", b: x, c: 1-x, d: "1-x?"}
- {a: "2", b: x, c: 2-x, d: "2-x!"}
- {a: "2", b: x, c: 2-x, d: "2-x?"}
`,
		},
		{
			name: "goTemplate: a later child uses structured parameters",
			gens: `
- matrix:
    generators:
    - git:
        repoURL: https://git.example.com/platform.git
        revision: main
        directories: [{path: apps/a*}]
    - list:
        elements:
        - app: '{{ .path.basename | upper }}'
          replicas: 2
`,
			goTmpl: true,
			want: `
- path: {path: apps/api, basename: api, basenameNormalized: api, segments: [apps, api]}
  app: API
  replicas: 2
`,
		},
		{
			name: "goTemplate: nested objects combine key by key",
			gens: `
- matrix:
    generators:
    - list: {elements: [{meta: {x: 1}}]}
    - list: {elements: [{meta: {y: 2}}]}
`,
			goTmpl: true,
			want:   `[{meta: {x: 1, y: 2}}]`,
		},
		{
			name: "conflicting values name the key and the child",
			gens: `
- matrix:
    generators:
    - list: {elements: [{name: a}]}
    - list: {elements: [{name: b}]}
`,
			wantErr: []string{`generators[0].matrix.generators[1]: parameter "name" has conflicting values "a" (earlier generator) and "b"`},
		},
		{
			name: "goTemplate: conflicting nested values",
			gens: `
- matrix:
    generators:
    - list: {elements: [{meta: {x: 1, y: 1}}]}
    - list: {elements: [{meta: {x: 2}}]}
`,
			goTmpl:  true,
			wantErr: []string{`generators[0].matrix.generators[1]: parameter "meta.x" has conflicting values 1 (earlier generator) and 2`},
		},
		{
			name:    "fewer than two generators",
			gens:    `[{matrix: {generators: [{list: {elements: [{a: b}]}}]}}]`,
			wantErr: []string{`generators[0].matrix: needs at least two generators, has 1`},
		},
		{
			name: "templating a child's spec fails with missingkey=error",
			gens: `
- matrix:
    generators:
    - list: {elements: [{a: "1"}]}
    - list: {elements: [{b: '{{ .nope }}'}]}
`,
			goTmpl:  true,
			options: []string{"missingkey=error"},
			wantErr: []string{
				`generators[0].matrix.generators[1].list: templating the spec with earlier generators' parameters: template: list.elements[0].b:`,
				`map has no entry for key "nope"`,
			},
		},
	})
}
