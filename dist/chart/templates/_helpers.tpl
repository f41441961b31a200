{{/*
Helpers of the battle-operator chart. Written by hand in hack/helmchart/skel/; the
generator (hack/helmchart, `make helm-chart`) copies them into dist/chart.
*/}}

{{/* The chart's name: battle-operator, or nameOverride. */}}
{{- define "battle-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The prefix of every object's name: fullnameOverride, or the release name when it contains
the chart's name (`helm install battle-operator …` gives the names config/default has), or
<release>-<chart>.
*/}}
{{- define "battle-operator.fullname" -}}
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

{{/*
An object's name: the fullname, a dash and the suffix, at most 63 characters (a Service
name is a DNS label): the fullname is cut to make room. Use: (dict "suffix" "x" "context" $).
*/}}
{{- define "battle-operator.resourceName" -}}
{{- $fullname := include "battle-operator.fullname" .context }}
{{- $room := sub 62 (len .suffix) | int }}
{{- printf "%s-%s" ($fullname | trunc $room | trimSuffix "-") .suffix }}
{{- end }}

{{- define "battle-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The labels every object gets. */}}
{{- define "battle-operator.labels" -}}
helm.sh/chart: {{ include "battle-operator.chart" . }}
app.kubernetes.io/name: {{ include "battle-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
--sdk-app-id's value: every sdkAppIDs entry as ID or ID=NAMESPACE, comma-separated. An ID
written as a YAML number reaches the template as a float; it is printed as an integer.
*/}}
{{- define "battle-operator.sdkAppIDs" -}}
{{- $ids := list }}
{{- range .Values.sdkAppIDs }}
{{- $id := required "every sdkAppIDs entry needs an id" .id }}
{{- if not (kindIs "string" $id) }}{{ $id = printf "%d" (int64 $id) }}{{ end }}
{{- if .namespace }}{{ $id = printf "%s=%s" $id .namespace }}{{ end }}
{{- $ids = append $ids $id }}
{{- end }}
{{- if not $ids }}{{ fail "sdkAppIDs is empty: give at least one SDKAppID (the manager accepts callbacks of these apps only)" }}{{ end }}
{{- join "," $ids }}
{{- end }}

{{/* Settings that cannot work together fail the rendering, saying why. */}}
{{- define "battle-operator.validate" -}}
{{- if and (gt (int64 .Values.replicas) 1) (not .Values.leaderElection.enable) }}
{{- fail "replicas > 1 needs leaderElection.enable: without it every replica runs the controllers, and reactions run twice" }}
{{- end }}
{{- if and .Values.webhook.enable (not .Values.certManager.enable) }}
{{- fail "webhook.enable needs certManager.enable: cert-manager issues the webhook's serving certificate and injects its CA (or set webhook.enable=false)" }}
{{- end }}
{{- if .Values.prometheus.enable }}
{{- if not .Values.certManager.enable }}
{{- fail "prometheus.enable needs certManager.enable: cert-manager issues the metrics endpoint's certificate, which the ServiceMonitor verifies" }}
{{- end }}
{{- if not (and .Values.metrics.enable .Values.metrics.secure) }}
{{- fail "prometheus.enable needs metrics.enable and metrics.secure: the ServiceMonitor scrapes HTTPS with a token" }}
{{- end }}
{{- end }}
{{- end }}

{{/* The Secret holding the callback token: callbackToken.existingSecret, or <fullname>-callback-token. */}}
{{- define "battle-operator.callbackTokenSecret" -}}
{{- .Values.callbackToken.existingSecret | default (include "battle-operator.resourceName" (dict "suffix" "callback-token" "context" .)) }}
{{- end }}
