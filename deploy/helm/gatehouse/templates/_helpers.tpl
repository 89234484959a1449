{{/* The release's resource name. */}}
{{- define "gatehouse.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gatehouse.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gatehouse.selector" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gatehouse.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "gatehouse.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ default (include "gatehouse.fullname" .) .Values.serviceAccount.name }}
{{- else -}}
{{ default "default" .Values.serviceAccount.name }}
{{- end -}}
{{- end -}}

{{/* Pod and container hardening shared by the Deployment, the Job and the test. */}}
{{- define "gatehouse.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "gatehouse.containerSecurityContext" -}}
readOnlyRootFilesystem: true
allowPrivilegeEscalation: false
runAsNonRoot: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Environment: the issuer and listeners from the chart, secrets from the Secret. */}}
{{- define "gatehouse.env" -}}
env:
  - name: GATEHOUSE_ISSUER
    value: {{ required "issuer is required (the https URL relying parties discover)" .Values.issuer | quote }}
  - name: GATEHOUSE_CONFIG
    value: /etc/gatehouse/config.yaml
  - name: GATEHOUSE_LISTEN
    value: "0.0.0.0:8080"
  - name: GATEHOUSE_ADMIN_LISTEN
    value: "0.0.0.0:8081"
envFrom:
  - secretRef:
      name: {{ required "existingSecret is required (a Secret with GATEHOUSE_SECRETS and GATEHOUSE_DATABASE_URL)" .Values.existingSecret }}
{{- end -}}
