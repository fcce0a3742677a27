{{/* Names: 63 characters at most (DNS label), as every Kubernetes name here must fit. */}}
{{- define "clusteropt-agent.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "clusteropt-agent.fullname" -}}
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

{{- define "clusteropt-agent.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clusteropt-agent.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "clusteropt-agent.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "clusteropt-agent.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: agent
app.kubernetes.io/part-of: clusteropt
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "clusteropt-agent.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "clusteropt-agent.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "clusteropt-agent.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding the API key: the user's, the chart's, or the conventional name. */}}
{{- define "clusteropt-agent.apiKeySecretName" -}}
{{- default (printf "%s-api-key" (include "clusteropt-agent.fullname" .)) .Values.apiKey.existingSecret }}
{{- end }}

{{- define "clusteropt-agent.caConfigMapName" -}}
{{- default (printf "%s-ca" (include "clusteropt-agent.fullname" .)) .Values.controlPlane.ca.existingConfigMap }}
{{- end }}

{{- define "clusteropt-agent.hasCa" -}}
{{- if or .Values.controlPlane.ca.bundle .Values.controlPlane.ca.existingConfigMap }}true{{ end }}
{{- end }}

{{/* The Lease name the agent uses (its default unless config.leaderElection.leaseName). */}}
{{- define "clusteropt-agent.leaseName" -}}
{{- (.Values.config.leaderElection | default dict).leaseName | default "clusteropt-agent" }}
{{- end }}

{{/* The agent's config file: controlPlane.url plus .Values.config. */}}
{{- define "clusteropt-agent.configFile" -}}
# clusteropt-agent settings (docs/configuration.md). The environment variables set by the
# workload (state dir, API key file, CA file, namespace, health address) take precedence.
{{- if .Values.controlPlane.url }}
controlPlaneUrl: {{ .Values.controlPlane.url | quote }}
{{- else }}
# REQUIRED: the agent refuses to start without it.
# controlPlaneUrl: https://api.clusteropt.example
{{- end }}
{{- with .Values.config }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Rules that hold across values; the schema checks each value on its own. */}}
{{- define "clusteropt-agent.validate" -}}
{{- if and .Values.apiKey.value .Values.apiKey.existingSecret }}
{{- fail "set apiKey.value or apiKey.existingSecret, not both" }}
{{- end }}
{{- if and .Values.controlPlane.ca.bundle .Values.controlPlane.ca.existingConfigMap }}
{{- fail "set controlPlane.ca.bundle or controlPlane.ca.existingConfigMap, not both" }}
{{- end }}
{{- $le := .Values.config.leaderElection | default dict }}
{{- if and (gt (int .Values.replicas) 1) (eq (toString $le.enabled) "false") }}
{{- fail "replicas > 1 needs config.leaderElection.enabled: every replica would act at once" }}
{{- end }}
{{- end }}
