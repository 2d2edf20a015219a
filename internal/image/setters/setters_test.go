package setters

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"
)

// images are the policies' chosen images used by the tests.
var images = map[string]Image{
	"flux-system:myapp":   {Name: "registry.example.com/myapp", Tag: "1.2.4"},
	"flux-system:podinfo": {Name: "ghcr.io/stefanprodan/podinfo", Tag: "6.5.0"},
	"apps:numeric":        {Name: "registry.example.com/numeric", Tag: "2.10"},
}

type applyCase struct {
	name    string
	files   map[string]string
	dir     string            // "." when empty
	want    map[string]string // Result.Files
	changes []Change
	skipped []string // prefixes of Result.Skipped, in order
}

// change builds a Change for the myapp policy.
func change(file string, line int, old, new string) Change {
	return Change{File: file, Line: line, Policy: "flux-system:myapp", Old: old, New: new}
}

func TestApplyMarkerForms(t *testing.T) {
	runApply(t, []applyCase{{
		name: "comment line above a later key of a sequence item (example Deployment)",
		files: map[string]string{"deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  template:
    spec:
      containers:
        - name: myapp
          # {"$imagepolicy": "flux-system:myapp"}
          image: registry.example.com/myapp:1.2.3
          ports:
            - containerPort: 8080
`},
		want: map[string]string{"deploy.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: myapp
spec:
  template:
    spec:
      containers:
        - name: myapp
          # {"$imagepolicy": "flux-system:myapp"}
          image: registry.example.com/myapp:1.2.4
          ports:
            - containerPort: 8080
`},
		changes: []Change{change("deploy.yaml", 11, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4")},
	}, {
		name: "comment line above the first key of a sequence item and in a plain mapping",
		files: map[string]string{"pod.yaml": `spec:
  initContainers:
    # {"$imagepolicy": "flux-system:myapp"}
    - image: registry.example.com/myapp:1.0.0
      name: init
  containers:
    -
      # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.0.1
    - # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.0.2
  sidecar:
    # {"$imagepolicy": "flux-system:myapp"}
    image: registry.example.com/myapp:1.0.3
`},
		want: map[string]string{"pod.yaml": `spec:
  initContainers:
    # {"$imagepolicy": "flux-system:myapp"}
    - image: registry.example.com/myapp:1.2.4
      name: init
  containers:
    -
      # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.2.4
    - # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.2.4
  sidecar:
    # {"$imagepolicy": "flux-system:myapp"}
    image: registry.example.com/myapp:1.2.4
`},
		changes: []Change{
			change("pod.yaml", 4, "registry.example.com/myapp:1.0.0", "registry.example.com/myapp:1.2.4"),
			change("pod.yaml", 9, "registry.example.com/myapp:1.0.1", "registry.example.com/myapp:1.2.4"),
			change("pod.yaml", 11, "registry.example.com/myapp:1.0.2", "registry.example.com/myapp:1.2.4"),
			change("pod.yaml", 14, "registry.example.com/myapp:1.0.3", "registry.example.com/myapp:1.2.4"),
		},
	}, {
		name: "line comment, as Flux writes it, on keys and sequence items",
		files: map[string]string{"deploy.yml": `containers:
  - image: registry.example.com/myapp:1.2.3 # {"$imagepolicy": "flux-system:myapp"}
    name: myapp
    args:
      - registry.example.com/myapp:1.0.0   #{"$imagepolicy": "flux-system:myapp"}
`},
		want: map[string]string{"deploy.yml": `containers:
  - image: registry.example.com/myapp:1.2.4 # {"$imagepolicy": "flux-system:myapp"}
    name: myapp
    args:
      - registry.example.com/myapp:1.2.4   #{"$imagepolicy": "flux-system:myapp"}
`},
		changes: []Change{
			change("deploy.yml", 2, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
			change("deploy.yml", 5, "registry.example.com/myapp:1.0.0", "registry.example.com/myapp:1.2.4"),
		},
	}, {
		name: "name and tag markers in a Kustomization images list",
		files: map[string]string{"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deploy.yaml
images:
  - name: myapp
    newName: registry.old.example.com/myapp # {"$imagepolicy": "flux-system:myapp:name"}
    # {"$imagepolicy": "flux-system:myapp:tag"}
    newTag: 1.2.3
`},
		want: map[string]string{"kustomization.yaml": `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deploy.yaml
images:
  - name: myapp
    newName: registry.example.com/myapp # {"$imagepolicy": "flux-system:myapp:name"}
    # {"$imagepolicy": "flux-system:myapp:tag"}
    newTag: 1.2.4
`},
		changes: []Change{
			change("kustomization.yaml", 7, "registry.old.example.com/myapp", "registry.example.com/myapp"),
			change("kustomization.yaml", 9, "1.2.3", "1.2.4"),
		},
	}, {
		name: "name and tag markers in HelmRelease values, block and flow",
		files: map[string]string{"release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
      tag: 6.4.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
    sidecar:
      image: {
        # {"$imagepolicy": "flux-system:myapp:name"}
        repository: old/myapp,
        tag: "1.0", # {"$imagepolicy": "flux-system:myapp:tag"}
      }
`},
		want: map[string]string{"release.yaml": `apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
spec:
  values:
    image:
      repository: ghcr.io/stefanprodan/podinfo # {"$imagepolicy": "flux-system:podinfo:name"}
      tag: 6.5.0 # {"$imagepolicy": "flux-system:podinfo:tag"}
    sidecar:
      image: {
        # {"$imagepolicy": "flux-system:myapp:name"}
        repository: registry.example.com/myapp,
        tag: "1.2.4", # {"$imagepolicy": "flux-system:myapp:tag"}
      }
`},
		changes: []Change{
			{File: "release.yaml", Line: 7, Policy: "flux-system:podinfo", Old: "6.4.0", New: "6.5.0"},
			change("release.yaml", 11, "old/myapp", "registry.example.com/myapp"),
			change("release.yaml", 12, "1.0", "1.2.4"),
		},
	}})
}

func TestApplyPreservesBytes(t *testing.T) {
	runApply(t, []applyCase{{
		name: "double- and single-quoted values keep their quotes",
		files: map[string]string{"quoted.yaml": `a:
  image: "registry.example.com/myapp:1.2.3" # {"$imagepolicy": "flux-system:myapp"}
  # {"$imagepolicy": "flux-system:myapp:tag"}
  tag: '1.2.3'
  name: 'it''s' # {"$imagepolicy": "flux-system:myapp:name"}
  escaped: "registry.example.com/my\x61pp" # {"$imagepolicy": "flux-system:myapp:name"}
`},
		want: map[string]string{"quoted.yaml": `a:
  image: "registry.example.com/myapp:1.2.4" # {"$imagepolicy": "flux-system:myapp"}
  # {"$imagepolicy": "flux-system:myapp:tag"}
  tag: '1.2.4'
  name: 'registry.example.com/myapp' # {"$imagepolicy": "flux-system:myapp:name"}
  escaped: "registry.example.com/my\x61pp" # {"$imagepolicy": "flux-system:myapp:name"}
`},
		changes: []Change{
			change("quoted.yaml", 2, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
			change("quoted.yaml", 4, "1.2.3", "1.2.4"),
			change("quoted.yaml", 5, "it's", "registry.example.com/myapp"),
		},
	}, {
		name: "plain values are quoted only when the new value needs it",
		files: map[string]string{"values.yaml": `tag: 1.9 # {"$imagepolicy": "apps:numeric:tag"}
name: old/numeric # {"$imagepolicy": "apps:numeric:name"}
`},
		want: map[string]string{"values.yaml": `tag: "2.10" # {"$imagepolicy": "apps:numeric:tag"}
name: registry.example.com/numeric # {"$imagepolicy": "apps:numeric:name"}
`},
		changes: []Change{
			{File: "values.yaml", Line: 1, Policy: "apps:numeric", Old: "1.9", New: "2.10"},
			{File: "values.yaml", Line: 2, Policy: "apps:numeric", Old: "old/numeric", New: "registry.example.com/numeric"},
		},
	}, {
		name: "CRLF line endings",
		files: map[string]string{"deploy.yaml": crlf(`spec:
  containers:
    - name: myapp
      # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.2.3
    - name: other
      image: registry.example.com/myapp:1.0.0 # {"$imagepolicy": "flux-system:myapp"}
`)},
		want: map[string]string{"deploy.yaml": crlf(`spec:
  containers:
    - name: myapp
      # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.2.4
    - name: other
      image: registry.example.com/myapp:1.2.4 # {"$imagepolicy": "flux-system:myapp"}
`)},
		changes: []Change{
			change("deploy.yaml", 5, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
			change("deploy.yaml", 7, "registry.example.com/myapp:1.0.0", "registry.example.com/myapp:1.2.4"),
		},
	}, {
		name: "multi-document file",
		files: map[string]string{"all.yaml": `# leading comment
---
kind: Deployment
spec:
  image: registry.example.com/myapp:1.2.3 # {"$imagepolicy": "flux-system:myapp"}
---
# only a comment
---
# {"$imagepolicy": "flux-system:podinfo"}
image: ghcr.io/stefanprodan/podinfo:6.4.0
...
---
kind: ConfigMap
data:
  tag: "1.2.3" # {"$imagepolicy": "flux-system:myapp:tag"}
`},
		want: map[string]string{"all.yaml": `# leading comment
---
kind: Deployment
spec:
  image: registry.example.com/myapp:1.2.4 # {"$imagepolicy": "flux-system:myapp"}
---
# only a comment
---
# {"$imagepolicy": "flux-system:podinfo"}
image: ghcr.io/stefanprodan/podinfo:6.5.0
...
---
kind: ConfigMap
data:
  tag: "1.2.4" # {"$imagepolicy": "flux-system:myapp:tag"}
`},
		changes: []Change{
			change("all.yaml", 5, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
			{File: "all.yaml", Line: 10, Policy: "flux-system:podinfo", Old: "ghcr.io/stefanprodan/podinfo:6.4.0", New: "ghcr.io/stefanprodan/podinfo:6.5.0"},
			change("all.yaml", 15, "1.2.3", "1.2.4"),
		},
	}, {
		name: "comments, odd indentation, blank lines, flow mappings, trailing text, BOM and LS",
		files: map[string]string{"odd.yaml": "\ufeff# file header\n\n" + `apiVersion:   apps/v1   # spaced
spec:
   replicas: 2


   template:
       spec:
        containers:
        - name: myapp    # the app
          resources: {limits: {cpu: 100m}, requests: {memory: 64Mi}}

          # {"$imagepolicy": "flux-system:myapp"}
          image:    !!str &img registry.example.com/myapp:1.2.3	# tab before, trailing text after
          env: [{name: A, value: "b"}]
        - name: copy
          image: *img
# trailing comment
   # indented trailing comment
x: y` + "\u2028" + `image: registry.example.com/myapp:1.0.0 # {"$imagepolicy": "flux-system:myapp"}`},
		want: map[string]string{"odd.yaml": "\ufeff# file header\n\n" + `apiVersion:   apps/v1   # spaced
spec:
   replicas: 2


   template:
       spec:
        containers:
        - name: myapp    # the app
          resources: {limits: {cpu: 100m}, requests: {memory: 64Mi}}

          # {"$imagepolicy": "flux-system:myapp"}
          image:    !!str &img registry.example.com/myapp:1.2.4	# tab before, trailing text after
          env: [{name: A, value: "b"}]
        - name: copy
          image: *img
# trailing comment
   # indented trailing comment
x: y` + "\u2028" + `image: registry.example.com/myapp:1.2.4 # {"$imagepolicy": "flux-system:myapp"}`},
		changes: []Change{
			change("odd.yaml", 15, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
			change("odd.yaml", 22, "registry.example.com/myapp:1.0.0", "registry.example.com/myapp:1.2.4"),
		},
	}})
}

func TestApplyLeavesAlone(t *testing.T) {
	runApply(t, []applyCase{{
		name: "markers that do not apply",
		files: map[string]string{"other.yaml": `unknown:
  image: registry.example.com/other:1.0.0 # {"$imagepolicy": "flux-system:other"}
  # {"$imagepolicy": "flux-system:other:tag"}
  tag: 1.0.0
unknownPart:
  digest: sha256:abc # {"$imagepolicy": "flux-system:myapp:digest"}
notDirectlyAbove:
  # {"$imagepolicy": "flux-system:myapp"}

  image: registry.example.com/myapp:1.2.3
notOnlyTheMarker:
  image: registry.example.com/myapp:1.2.3 # {"$imagepolicy": "flux-system:myapp"} bump me
notFirstOnItsLine:
  # {"$imagepolicy": "flux-system:myapp:tag"}
  image: {name: a, tag: 1.2.3}
notAComment:
  script: |
    # {"$imagepolicy": "flux-system:myapp"}
  image: registry.example.com/myapp:1.2.3
notAScalar:
  # {"$imagepolicy": "flux-system:myapp"}
  image:
    repository: registry.example.com/myapp
`},
	}, {
		name: "values already current",
		files: map[string]string{"current.yaml": `spec:
  containers:
    - name: myapp
      # {"$imagepolicy": "flux-system:myapp"}
      image: registry.example.com/myapp:1.2.4
    - image: "registry.example.com/myapp:1.2.4" # {"$imagepolicy": "flux-system:myapp"}
`},
	}, {
		name: "files that are not YAML or cannot be rewritten in place",
		files: map[string]string{
			"chart/templates/deploy.yaml": `{{- if .Values.enabled }}
image: {{ .Values.image }} # {"$imagepolicy": "flux-system:myapp"}
{{- end }}
`,
			"empty.yaml": `# {"$imagepolicy": "flux-system:myapp"}
image:
`,
			"folded.yaml": `image: >- # {"$imagepolicy": "flux-system:myapp"}
  registry.example.com/myapp:1.2.3
`,
			"unmarked-broken.yaml": "a: [\n",
			"notes.txt":            `image: registry.example.com/myapp:1.2.3 # {"$imagepolicy": "flux-system:myapp"}`,
			"tabs.yml":             "a:\n\t# {\"$imagepolicy\": \"flux-system:myapp\"}\n\timage: x\n",
		},
		skipped: []string{
			"chart/templates/deploy.yaml: yaml: ",
			"empty.yaml: line 2: cannot rewrite value",
			"folded.yaml: line 1: cannot rewrite value",
			"tabs.yml: yaml: ",
		},
	}})
}

func TestApplyDirectories(t *testing.T) {
	marked := "image: registry.example.com/myapp:1.2.3 # {\"$imagepolicy\": \"flux-system:myapp\"}\n"
	updated := "image: registry.example.com/myapp:1.2.4 # {\"$imagepolicy\": \"flux-system:myapp\"}\n"
	files := map[string]string{
		"apps/base/deploy.yaml":       marked,
		"apps/prod/kustomize.yml":     marked,
		"apps.yaml":                   marked,
		"infra/deploy.yaml":           marked,
		"apps/.git/objects/x.yaml":    marked,
		"apps/base/deep/er/last.yaml": marked,
	}
	inApps := map[string]string{
		"apps/base/deploy.yaml":       updated,
		"apps/base/deep/er/last.yaml": updated,
		"apps/prod/kustomize.yml":     updated,
	}
	inAppsChanges := []Change{
		change("apps/base/deep/er/last.yaml", 1, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
		change("apps/base/deploy.yaml", 1, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
		change("apps/prod/kustomize.yml", 1, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"),
	}
	var cases []applyCase
	for _, dir := range []string{"./apps", "apps", "apps/", "/apps", "./apps/../apps", "../apps"} {
		cases = append(cases, applyCase{name: "update path " + dir, files: files, dir: dir, want: inApps, changes: inAppsChanges})
	}
	cases = append(cases, applyCase{
		name: "root", files: files, dir: "./",
		want: map[string]string{
			"apps.yaml":                   updated,
			"apps/base/deploy.yaml":       updated,
			"apps/base/deep/er/last.yaml": updated,
			"apps/prod/kustomize.yml":     updated,
			"infra/deploy.yaml":           updated,
		},
		changes: append([]Change{change("apps.yaml", 1, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4")},
			append(inAppsChanges, change("infra/deploy.yaml", 1, "registry.example.com/myapp:1.2.3", "registry.example.com/myapp:1.2.4"))...),
	})
	runApply(t, cases)
}

func TestApplyErrors(t *testing.T) {
	fsys := fstest.MapFS{"apps/a.yaml": &fstest.MapFile{Data: []byte("a: b\n")}}
	for _, dir := range []string{"missing", "apps/../../x", "apps/a.yaml/x"} {
		if _, err := Apply(fsys, dir, images); err == nil {
			t.Errorf("Apply(%q): no error", dir)
		}
	}
}

func TestImageString(t *testing.T) {
	for _, c := range []struct {
		img  Image
		want string
	}{
		{Image{Name: "registry.example.com/myapp", Tag: "1.2.4"}, "registry.example.com/myapp:1.2.4"},
		{Image{Name: "registry.example.com:5000/myapp", Tag: "v1"}, "registry.example.com:5000/myapp:v1"},
		{Image{Name: "myapp"}, "myapp"},
	} {
		if got := c.img.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.img, got, c.want)
		}
	}
}

// runApply runs Apply on each case's files and compares the whole Result.
func runApply(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, data := range c.files {
				fsys[name] = &fstest.MapFile{Data: []byte(data)}
			}
			dir := c.dir
			if dir == "" {
				dir = "."
			}
			res, err := Apply(fsys, dir, images)
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			checkFiles(t, res.Files, c.want)
			if !reflect.DeepEqual(res.Changes, c.changes) {
				t.Errorf("Changes:\n got %+v\nwant %+v", res.Changes, c.changes)
			}
			checkSkipped(t, res.Skipped, c.skipped)
		})
	}
}

// checkFiles compares the rewritten files with the expected bytes.
func checkFiles(t *testing.T, got map[string][]byte, want map[string]string) {
	t.Helper()
	if got == nil {
		t.Fatal("Files is nil")
	}
	for name, data := range got {
		w, ok := want[name]
		if !ok {
			t.Errorf("unexpected file %s:\n%s", name, data)
		} else if string(data) != w {
			t.Errorf("%s:\n got %q\nwant %q", name, data, w)
		}
	}
	for name := range want {
		if _, ok := got[name]; !ok {
			t.Errorf("missing file %s", name)
		}
	}
}

// checkSkipped compares the skipped files with the expected prefixes.
func checkSkipped(t *testing.T, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Skipped:\n got %q\nwant prefixes %q", got, want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("Skipped[%d] = %q, want prefix %q", i, got[i], want[i])
		}
	}
}

// crlf turns LF line endings into CRLF.
func crlf(s string) string {
	return strings.ReplaceAll(s, "\n", "\r\n")
}
