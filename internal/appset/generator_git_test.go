package appset

import (
	"slices"
	"testing"
)

func TestGit(t *testing.T) {
	runGenCases(t, []genCase{
		{
			name: "directories matched per segment, exclude removes",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    directories:
    - path: apps/*
    - path: apps/legacy
      exclude: true
`,
			want: `
- path: apps/My_App
  path.basename: My_App
  path.basenameNormalized: my-app
  "path[0]": apps
  "path[1]": My_App
- path: apps/api
  path.basename: api
  path.basenameNormalized: api
  "path[0]": apps
  "path[1]": api
- path: apps/web
  path.basename: web
  path.basenameNormalized: web
  "path[0]": apps
  "path[1]": web
`,
		},
		{
			name: "exclude wins whatever the order; pathParamPrefix",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    pathParamPrefix: app
    directories:
    - {path: apps/web, exclude: true}
    - {path: apps/*/*}
    - {path: apps/web}
`,
			want: `
- app.path: apps/web/assets
  app.path.basename: assets
  app.path.basenameNormalized: assets
  "app.path[0]": apps
  "app.path[1]": web
  "app.path[2]": assets
`,
		},
		{
			name: "goTemplate directories with values",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    directories:
    - path: apps/*
    - {path: apps/legacy, exclude: true}
    - {path: apps/My_App, exclude: true}
    values:
      namespace: '{{ .path.basename }}-ns'
`,
			goTmpl: true,
			want: `
- path: {path: apps/api, basename: api, basenameNormalized: api, segments: [apps, api]}
  values: {namespace: api-ns}
- path: {path: apps/web, basename: web, basenameNormalized: web, segments: [apps, web]}
  values: {namespace: web-ns}
`,
		},
		{
			name: "files: JSON, YAML, a list file, an empty file; exclude",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    files:
    - path: envs/*/config.*
    - path: envs/old/*
      exclude: true
`,
			want: `
- path: envs/empty
  path.basename: empty
  path.basenameNormalized: empty
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": empty
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
- env: qa1
  replicas: "1"
  path: envs/qa
  path.basename: qa
  path.basenameNormalized: qa
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": qa
- env: qa2
  replicas: "2"
  path: envs/qa
  path.basename: qa
  path.basenameNormalized: qa
  path.filename: config.yaml
  path.filenameNormalized: config.yaml
  "path[0]": envs
  "path[1]": qa
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
			name: "goTemplate files with pathParamPrefix and values",
			gens: `
- git:
    repoURL: https://git.example.com/platform.git
    revision: main
    pathParamPrefix: cfg
    files:
    - path: envs/prod/*.json
    values:
      release: '{{ .env }}-{{ .cfg.path.filename }}'
`,
			goTmpl: true,
			want: `
- env: prod
  replicas: 3
  region: {name: eu-west}
  cfg:
    path:
      path: envs/prod
      basename: prod
      basenameNormalized: prod
      filename: config.json
      filenameNormalized: config.json
      segments: [envs, prod]
  values: {release: prod-config.json}
`,
		},
		{
			name:    "a file holding a list of scalars",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git", revision: main, files: [{path: "bad/*"}]}}]`,
			wantErr: []string{`generators[0].git: file bad/config.yaml: not an object but 1`},
		},
		{
			name: "a repository the reader does not know",
			gens: `[{git: {repoURL: "https://git.example.com/other.git", revision: main, directories: [{path: "*"}]}}]`,
			wantErr: []string{`generators[0].git: listing the directories of https://git.example.com/other.git at "main": ` +
				`unknown repository https://git.example.com/other.git`},
		},
		{
			name:    "both directories and files",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git", directories: [{path: "*"}], files: [{path: "*"}]}}]`,
			wantErr: []string{`generators[0].git: both directories and files are set`},
		},
		{
			name:    "neither directories nor files",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git"}}]`,
			wantErr: []string{`generators[0].git: neither directories nor files is set`},
		},
		{
			name:    "a malformed directory pattern",
			gens:    `[{git: {repoURL: "https://git.example.com/platform.git", directories: [{path: "apps/*"}, {path: "apps/["}]}}]`,
			wantErr: []string{`generators[0].git: directories[1]: pattern "apps/[": syntax error in pattern`},
		},
	})

	t.Run("no repository reader", func(t *testing.T) {
		gens := parseGens(t, `[{git: {repoURL: "https://git.example.com/platform.git", directories: [{path: "*"}]}}]`)
		_, err := Generate(t.Context(), gens, Inputs{})
		wantError(t, err, "generators[0].git: no repository reader configured")
	})
}

// TestGitRepoURLs finds the git generators' repositories at any depth, each once, and none in a
// spec without git generators.
func TestGitRepoURLs(t *testing.T) {
	gens := parseGens(t, `
- list: {elements: [{a: b}]}
- git: {repoURL: "https://git.example.com/a.git", revision: main, directories: [{path: "*"}]}
- matrix:
    generators:
    - clusters: {}
    - merge:
        mergeKeys: [x]
        generators:
        - list: {elements: [{x: "1"}]}
        - matrix:
            generators:
            - git: {repoURL: "https://git.example.com/b.git", revision: main, files: [{path: "*.yaml"}]}
            - git: {repoURL: "https://git.example.com/a.git", revision: dev, directories: [{path: "*"}]}
- merge:
    mergeKeys: [x]
    generators:
    - git: {repoURL: "https://git.example.com/c.git", revision: main, directories: [{path: "*"}]}
    - list: {elements: [{x: "1"}]}
`)
	if got, want := GitRepoURLs(gens), []string{"https://git.example.com/a.git", "https://git.example.com/b.git", "https://git.example.com/c.git"}; !slices.Equal(got, want) {
		t.Errorf("GitRepoURLs = %q, want %q", got, want)
	}
	if got := GitRepoURLs(parseGens(t, `[{list: {elements: []}}, {matrix: {generators: [{clusters: {}}, {list: {elements: []}}]}}]`)); len(got) != 0 {
		t.Errorf("GitRepoURLs without git generators = %q", got)
	}
}
