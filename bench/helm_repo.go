package main

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	helmrepo "helm.sh/helm/v4/pkg/repo/v1"
)

// The Helm benchmark's chart: what `helm create` writes, trimmed to a web
// application's usual objects (ServiceAccount, ConfigMap, Service,
// Deployment, and, when their values say so, HorizontalPodAutoscaler and
// Ingress), with the helpers, conditionals and the config checksum
// annotation real charts have.
const (
	benchChartName    = "webapp"
	benchChartVersion = "1.0.0"
)

var benchChart = map[string]string{
	"Chart.yaml": `apiVersion: v2
name: webapp
description: A web application (Ferry's Helm benchmark)
type: application
version: 1.0.0
appVersion: "6.5.0"
`,
	"values.yaml": `replicaCount: 1
image:
  repository: ghcr-example/podinfo
  pullPolicy: IfNotPresent
  tag: ""
nameOverride: ""
fullnameOverride: ""
serviceAccount:
  create: true
  automount: false
  annotations: {}
  name: ""
podAnnotations: {}
podLabels: {}
message: hello
config:
  logLevel: info
  features:
    - metrics
    - tracing
service:
  type: ClusterIP
  port: 9898
ingress:
  enabled: false
  className: ""
  annotations: {}
  host: chart-example.local
  path: /
  tls: false
resources:
  requests:
    cpu: 10m
    memory: 16Mi
autoscaling:
  enabled: false
  minReplicas: 1
  maxReplicas: 10
  targetCPUUtilizationPercentage: 80
nodeSelector: {}
tolerations: []
`,
	"templates/_helpers.tpl": `{{/*
Expand the name of the chart.
*/}}
{{- define "webapp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
A default fully qualified app name, truncated at 63 characters (some
Kubernetes name fields are limited to that).
*/}}
{{- define "webapp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "webapp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "webapp.labels" -}}
helm.sh/chart: {{ include "webapp.chart" . }}
{{ include "webapp.selectorLabels" . }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "webapp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "webapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "webapp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "webapp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}
`,
	"templates/serviceaccount.yaml": `{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "webapp.serviceAccountName" . }}
  labels:
    {{- include "webapp.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- end }}
`,
	"templates/configmap.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "webapp.fullname" . }}
  labels:
    {{- include "webapp.labels" . | nindent 4 }}
data:
  message: {{ .Values.message | quote }}
  LOG_LEVEL: {{ .Values.config.logLevel | upper | quote }}
  config.yaml: |
    release: {{ .Release.Name }}
    namespace: {{ .Release.Namespace }}
    features:
      {{- range .Values.config.features }}
      - {{ . }}
      {{- end }}
`,
	"templates/service.yaml": `apiVersion: v1
kind: Service
metadata:
  name: {{ include "webapp.fullname" . }}
  labels:
    {{- include "webapp.labels" . | nindent 4 }}
spec:
  type: {{ .Values.service.type }}
  ports:
    - port: {{ .Values.service.port }}
      targetPort: http
      protocol: TCP
      name: http
  selector:
    {{- include "webapp.selectorLabels" . | nindent 4 }}
`,
	"templates/deployment.yaml": `apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "webapp.fullname" . }}
  labels:
    {{- include "webapp.labels" . | nindent 4 }}
spec:
  {{- if not .Values.autoscaling.enabled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "webapp.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      annotations:
        checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      labels:
        {{- include "webapp.labels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "webapp.serviceAccountName" . }}
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          envFrom:
            - configMapRef:
                name: {{ include "webapp.fullname" . }}
          ports:
            - name: http
              containerPort: {{ .Values.service.port }}
              protocol: TCP
          livenessProbe:
            httpGet:
              path: /healthz
              port: http
          readinessProbe:
            httpGet:
              path: /readyz
              port: http
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
`,
	"templates/hpa.yaml": `{{- if .Values.autoscaling.enabled }}
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: {{ include "webapp.fullname" . }}
  labels:
    {{- include "webapp.labels" . | nindent 4 }}
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: {{ include "webapp.fullname" . }}
  minReplicas: {{ .Values.autoscaling.minReplicas }}
  maxReplicas: {{ .Values.autoscaling.maxReplicas }}
  metrics:
    - type: Resource
      resource:
        name: cpu
        target:
          type: Utilization
          averageUtilization: {{ .Values.autoscaling.targetCPUUtilizationPercentage }}
{{- end }}
`,
	"templates/ingress.yaml": `{{- if .Values.ingress.enabled -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "webapp.fullname" . }}
  labels:
    {{- include "webapp.labels" . | nindent 4 }}
  {{- with .Values.ingress.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  {{- with .Values.ingress.className }}
  ingressClassName: {{ . }}
  {{- end }}
  {{- if .Values.ingress.tls }}
  tls:
    - hosts:
        - {{ .Values.ingress.host | quote }}
      secretName: {{ include "webapp.fullname" . }}-tls
  {{- end }}
  rules:
    - host: {{ .Values.ingress.host | quote }}
      http:
        paths:
          - path: {{ .Values.ingress.path }}
            pathType: Prefix
            backend:
              service:
                name: {{ include "webapp.fullname" . }}
                port:
                  number: {{ .Values.service.port }}
{{- end }}
`,
	"templates/NOTES.txt": `{{ include "webapp.fullname" . }} is served on port {{ .Values.service.port }}.
`,
}

// packageBenchChart writes the benchmark's chart under dir and packages it
// with Helm's library, as `helm package` does. It returns the archive's path.
func packageBenchChart(dir string) (string, error) {
	src := filepath.Join(dir, "src", benchChartName)
	for name, content := range benchChart {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			return "", err
		}
	}
	ch, err := loader.LoadDir(src)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", src, err)
	}
	out := filepath.Join(dir, "charts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	file, err := chartutil.Save(ch, out)
	if err != nil {
		return "", fmt.Errorf("package chart %s: %w", src, err)
	}
	return file, nil
}

// chartRepo is a Helm repository served over HTTP on loopback: the
// directory of one packaged chart and the index.yaml `helm repo index`
// writes for it. It counts the requests it serves, by path.
type chartRepo struct {
	srv *http.Server
	url string

	mu       sync.Mutex
	requests map[string]int
}

// serveChartRepo indexes the archives in dir (as `helm repo index` does,
// with the repository's URL) and serves dir until stop.
func serveChartRepo(dir string) (*chartRepo, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &chartRepo{url: "http://" + ln.Addr().String(), requests: map[string]int{}}
	idx, err := helmrepo.IndexDirectory(dir, r.url)
	if err != nil {
		ln.Close()
		return nil, fmt.Errorf("index %s: %w", dir, err)
	}
	idx.SortEntries()
	if err := idx.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		ln.Close()
		return nil, err
	}
	began := time.Now()
	r.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.requests[req.URL.Path]++
		r.mu.Unlock()
		// Few (an index per poll interval, the archives): each is told, so
		// a second download of one archive shows when it came.
		fmt.Fprintf(os.Stderr, "helm repository: %s %s at +%s\n", req.Method, req.URL.Path, time.Since(began).Round(time.Microsecond))
		name := strings.TrimPrefix(req.URL.Path, "/")
		if req.Method != http.MethodGet || name == "" || strings.Contains(name, "/") {
			http.NotFound(w, req)
			return
		}
		http.ServeFile(w, req, filepath.Join(dir, name))
	})}
	go func() {
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintln(os.Stderr, "helm repository:", err)
		}
	}()
	return r, nil
}

// served returns the requests served for path so far.
func (r *chartRepo) served(path string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.requests[path]
}

func (r *chartRepo) stop() { _ = r.srv.Close() }
