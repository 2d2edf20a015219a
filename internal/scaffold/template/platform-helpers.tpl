{{/*
Labels of every object of the chart.
*/}}
{{- define "platform.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
The PriorityClass of a team, for its pods' priorityClassName. Called with
the team's entry of .Values.teams.
*/}}
{{- define "platform.priorityClassName" -}}
{{ required "every team needs a name" .name }}-workloads
{{- end }}
