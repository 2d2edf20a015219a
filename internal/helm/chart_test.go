package helm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// appChart is the chart most tests render: an application with a
// Deployment, a Service, a ConfigMap built from .Files, a CRD in crds/, a
// test hook, a pre-install Job hook, a subchart enabled by a condition, a
// library of named templates, a values.schema.json, and a template calling
// lookup. Paths are relative to the chart's directory.
func appChart() map[string]string {
	return map[string]string{
		"Chart.yaml": `apiVersion: v2
name: app
version: 1.2.3
appVersion: "4.5"
kubeVersion: ">= 1.19.0-0"
dependencies:
  - name: sub
    version: 0.1.0
    condition: sub.enabled
  - name: lib
    version: 0.1.0
`,
		"values.yaml": `replicaCount: 1
image:
  repository: nginx
  tag: "1.27"
service:
  type: ClusterIP
  port: 80
config:
  greeting: hello
  file: ""
extra: ""
list: []
sub:
  enabled: true
global:
  team: platform
`,
		"values.schema.json": `{
  "$schema": "https://json-schema.org/draft-07/schema#",
  "type": "object",
  "required": ["replicaCount", "image"],
  "properties": {
    "replicaCount": {"type": "integer", "minimum": 1},
    "image": {
      "type": "object",
      "required": ["repository"],
      "properties": {"repository": {"type": "string"}, "tag": {"type": "string"}}
    }
  }
}
`,
		".helmignore":       "*.orig\n",
		"README.orig":       "ignored by .helmignore\n",
		"files/app.conf":    "listen = 8080\n",
		"files/extra/a.txt": "A\n",
		"files/extra/b.txt": "B\n",
		"crds/widgets.yaml": `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`,
		"templates/_helpers.tpl": `{{- define "app.fullname" -}}
{{ .Release.Name }}-{{ .Chart.Name }}
{{- end -}}
`,
		"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "app.fullname" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "lib.labels" . | nindent 4 }}
  annotations:
    kube-version: {{ .Capabilities.KubeVersion.Version | quote }}
    pdb-api: {{ .Capabilities.APIVersions.Has "policy/v1/PodDisruptionBudget" | quote }}
    monitoring-api: {{ .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" | quote }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels: {app: {{ include "app.fullname" . }}}
  template:
    metadata:
      labels: {app: {{ include "app.fullname" . }}}
    spec:
      containers:
        - name: app
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          env:
            - name: EXTRA
              value: {{ .Values.extra | quote }}
            - name: EXTRA_KIND
              value: {{ kindOf .Values.extra | quote }}
            - name: LIST
              value: {{ .Values.list | join ";" | quote }}
`,
		"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "app.fullname" . }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      name: http
`,
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "app.fullname" . }}-config
data:
  greeting: {{ .Values.config.greeting | quote }}
  file: {{ .Values.config.file | quote }}
  app.conf: {{ .Files.Get "files/app.conf" | quote }}
{{ (.Files.Glob "files/extra/*").AsConfig | indent 2 }}
`,
		"templates/lookup.yaml": `{{- $existing := lookup "v1" "Secret" .Release.Namespace "app-credentials" -}}
apiVersion: v1
kind: Secret
metadata:
  name: {{ include "app.fullname" . }}-credentials
stringData:
  state: {{ if $existing }}kept{{ else }}generated{{ end }}
`,
		"templates/job-migrate.yaml": `apiVersion: batch/v1
kind: Job
metadata:
  name: {{ include "app.fullname" . }}-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
`,
		"templates/tests/test-connection.yaml": `apiVersion: v1
kind: Pod
metadata:
  name: {{ include "app.fullname" . }}-test
  annotations:
    helm.sh/hook: test
spec:
  restartPolicy: Never
  containers:
    - name: wget
      image: busybox
      args: ["wget", "{{ include "app.fullname" . }}:{{ .Values.service.port }}"]
`,
		"templates/NOTES.txt": "Thanks for installing {{ .Release.Name }}.\n",
		"charts/sub/Chart.yaml": `apiVersion: v2
name: sub
version: 0.1.0
`,
		"charts/sub/values.yaml": "message: from-sub\n",
		"charts/sub/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-sub
data:
  message: {{ .Values.message | quote }}
  team: {{ .Values.global.team | quote }}
`,
		"charts/lib/Chart.yaml": `apiVersion: v2
name: lib
version: 0.1.0
type: library
`,
		"charts/lib/templates/_labels.tpl": `{{- define "lib.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
`,
	}
}

// umbrellaChart uses one subchart twice under aliases, one enabled by a
// tag, and imports values from it.
func umbrellaChart() map[string]string {
	return map[string]string{
		"Chart.yaml": `apiVersion: v2
name: umbrella
version: 0.1.0
dependencies:
  - name: sub
    version: 0.1.0
    alias: first
    import-values:
      - child: exported
        parent: imported
  - name: sub
    version: 0.1.0
    alias: second
    tags: [extras]
`,
		"values.yaml": `tags:
  extras: false
first:
  message: one
second:
  message: two
imported:
  fromParent: kept
`,
		"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-umbrella
data:
  imported: {{ toJson .Values.imported | quote }}
  subcharts: {{ keys .Subcharts | sortAlpha | join "," | quote }}
`,
		"charts/sub/Chart.yaml":  "apiVersion: v2\nname: sub\nversion: 0.1.0\n",
		"charts/sub/values.yaml": "message: default\nexported:\n  a: 1\n  fromParent: overridden\n",
		"charts/sub/templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-{{ .Chart.Name }}
data:
  message: {{ .Values.message | quote }}
`,
	}
}

// withFiles returns files with the changes applied; "" deletes a file.
func withFiles(files map[string]string, changes map[string]string) map[string]string {
	out := maps.Clone(files)
	for name, data := range changes {
		if data == "" {
			delete(out, name)
		} else {
			out[name] = data
		}
	}
	return out
}

// tarEntry is one entry of an archive a test writes.
type tarEntry struct {
	hdr  tar.Header
	data []byte
}

// file is a regular file entry.
func file(name, data string) tarEntry {
	return tarEntry{hdr: tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))}, data: []byte(data)}
}

// tgz writes entries as a gzip-compressed tar archive.
func tgz(t testing.TB, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.ModTime.IsZero() && hdr.Typeflag != tar.TypeXGlobalHeader {
			hdr.ModTime = time.Unix(1700000000, 0)
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// packageChart packages a chart's files as `helm package` does: every file
// under a directory named after the chart, in name order.
func packageChart(t testing.TB, dir string, files map[string]string) []byte {
	t.Helper()
	var entries []tarEntry
	for _, name := range slices.Sorted(maps.Keys(files)) {
		entries = append(entries, file(dir+"/"+name, files[name]))
	}
	return tgz(t, entries...)
}

// writeChart writes a chart's files under dir.
func writeChart(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// kinds describes objects as "Kind name" lines, in order.
func kinds(res *Result) []string {
	var out []string
	for _, o := range res.Objects {
		out = append(out, o.GetKind()+" "+o.GetName())
	}
	return out
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
