{{/* Names */}}
{{- define "clusterpedia.name" -}}
{{- default "clusterpedia" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "clusterpedia.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "clusterpedia.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* "<fullname>-<component>", e.g. clusterpedia-apiserver. */}}
{{- define "clusterpedia.componentName" -}}
{{- printf "%s-%s" (include "clusterpedia.fullname" .root) .component | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "clusterpedia.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "clusterpedia.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: clusterpedia
clusterpedia.io/storage-layer: {{ include "clusterpedia.storage.name" . }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* Labels of a component: dict "root" $ "component" "apiserver" */}}
{{- define "clusterpedia.componentLabels" -}}
{{ include "clusterpedia.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "clusterpedia.selectorLabels" -}}
app.kubernetes.io/name: {{ include "clusterpedia.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "clusterpedia.annotations" -}}
{{- with .Values.commonAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Storage */}}
{{- define "clusterpedia.storage.name" -}}
{{- default "internal" .Values.storage.name -}}
{{- end -}}

{{/*
The image of a component: dict "root" $ "component" "apiserver" "values" .Values.apiserver.
A component's own image.repository wins; otherwise the distribution's image
(storage.image.repository + "/" + component). The tag is the component's, else
storage.image.tag, else "<appVersion>-<storage.name>" (what `cargo xtask dist` tags).
*/}}
{{- define "clusterpedia.image" -}}
{{- $root := .root -}}
{{- $image := .values.image | default dict -}}
{{- $storage := $root.Values.storage.image | default dict -}}
{{- $registry := default $storage.registry $image.registry -}}
{{- if $root.Values.global.imageRegistry }}{{ $registry = $root.Values.global.imageRegistry }}{{ end -}}
{{- $repository := $image.repository -}}
{{- if not $repository -}}
{{- $repository = printf "%s/%s" (required "storage.image.repository: the distribution's image repository, e.g. clusterpedia-rs" $storage.repository) .component -}}
{{- end -}}
{{- $tag := default (default (printf "%s-%s" $root.Chart.AppVersion (include "clusterpedia.storage.name" $root)) $storage.tag) $image.tag -}}
{{- if $registry -}}
{{- printf "%s/%s:%s" $registry $repository $tag -}}
{{- else -}}
{{- printf "%s:%s" $repository $tag -}}
{{- end -}}
{{- end -}}

{{- define "clusterpedia.imagePullPolicy" -}}
{{- $image := .values.image | default dict -}}
{{- default (default "IfNotPresent" .root.Values.storage.image.pullPolicy) $image.pullPolicy -}}
{{- end -}}

{{/*
The ConfigMap holding the storage layer's config.yaml, first found of: the override template,
storage.configMap (the original read it as storage.configmap and ignored it: both spellings
work here), "<fullname>-<storage.name>-config" when storage.config is set.
*/}}
{{- define "clusterpedia.storage.configmap.name" -}}
{{- $override := include "clusterpedia.storage.override.configmap.name" . | trim -}}
{{- if $override -}}
{{- $override -}}
{{- else if .Values.storage.configMap -}}
{{- .Values.storage.configMap -}}
{{- else if .Values.storage.configmap -}}
{{- .Values.storage.configmap -}}
{{- else if .Values.storage.config -}}
{{- include "clusterpedia.storage.generatedConfigMapName" . -}}
{{- end -}}
{{- end -}}

{{- define "clusterpedia.storage.generatedConfigMapName" -}}
{{- printf "%s-%s-config" (include "clusterpedia.fullname" .) (include "clusterpedia.storage.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "clusterpedia.storage.componentEnv" -}}
{{- $override := include "clusterpedia.storage.override.componentEnv" . | trim -}}
{{- if $override -}}
{{- $override -}}
{{- else if .Values.storage.componentEnv -}}
{{- toYaml .Values.storage.componentEnv -}}
{{- end -}}
{{- end -}}

{{/* Flags every storage component gets. */}}
{{- define "clusterpedia.storage.args" -}}
- --storage-name={{ include "clusterpedia.storage.name" . }}
{{- if include "clusterpedia.storage.configmap.name" . }}
- --storage-config=/etc/clusterpedia/storage/config.yaml
{{- end }}
- --logging-format={{ .Values.logging.format }}
- -v={{ .Values.logging.verbosity }}
{{- end -}}

{{- define "clusterpedia.apiserver.args" -}}
- --secure-port={{ .Values.apiserver.securePort }}
{{- /* Authentication (TokenReview, the front proxy of extension-apiserver-authentication) and
authorization (SubjectAccessReview) delegated to the cluster it runs in, as an aggregated API. */}}
- --delegate-in-cluster
{{- with .Values.apiserver.maxRequestsInflight }}
- --max-requests-inflight={{ . }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.synchro.args" -}}
- --worker-number={{ .Values.clustersynchroManager.workerNumber }}
- --metrics-port={{ .Values.clustersynchroManager.metricsPort }}
{{- /* The binary listens on 127.0.0.1 by default; the kubelet's probes and Prometheus reach the pod IP. */}}
- --metrics-host=$(POD_IP)
{{- /* Leader election is on by default (the original's flags); its Lease lives in the release namespace ($CLUSTERPEDIA_NAMESPACE). */}}
{{- if .Values.clustersynchroManager.shardClusters }}
- --shard-clusters
{{- end }}
{{- with .Values.clustersynchroManager.featureGates }}
- --feature-gates={{ range $i, $k := keys . | sortAlpha }}{{ if $i }},{{ end }}{{ $k }}={{ get $.Values.clustersynchroManager.featureGates $k }}{{ end }}
{{- end }}
{{- end -}}

{{/* Env of every storage component. */}}
{{- define "clusterpedia.env" -}}
- name: CLUSTERPEDIA_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- with include "clusterpedia.storage.componentEnv" . }}
{{ . }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- if include "clusterpedia.storage.configmap.name" . }}
- name: storage-config
  mountPath: /etc/clusterpedia/storage
  readOnly: true
{{- end }}
{{- with (include "clusterpedia.storage.override.volumeMounts" . | trim) }}
{{ . }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.volumes" -}}
- name: tmp
  emptyDir: {}
{{- with include "clusterpedia.storage.configmap.name" . }}
- name: storage-config
  configMap:
    name: {{ . }}
{{- end }}
{{- with (include "clusterpedia.storage.override.volumes" . | trim) }}
{{ . }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.initContainers" -}}
{{- $override := include "clusterpedia.storage.override.initContainers" . | trim -}}
{{- if $override }}
initContainers:
{{ $override | indent 2 }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.podSecurityContext" -}}
{{- toYaml .Values.podSecurityContext -}}
{{- end -}}

{{- define "clusterpedia.containerSecurityContext" -}}
{{- toYaml .Values.containerSecurityContext -}}
{{- end -}}

{{- define "clusterpedia.imagePullSecrets" -}}
{{- $secrets := concat (.Values.global.imagePullSecrets | default list) (.Values.storage.image.pullSecrets | default list) -}}
{{- with $secrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ if kindIs "string" . }}{{ . }}{{ else }}{{ .name }}{{ end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* The component serving clusterpedia.io/v1beta1: binding-apiserver or apiserver. */}}
{{- define "clusterpedia.servingComponent" -}}
{{- if .Values.bindingApiserver.enabled -}}binding-apiserver{{- else -}}apiserver{{- end -}}
{{- end -}}

{{/*
Pod spec shared by the three components:
dict "root" $ "component" "apiserver" "values" .Values.apiserver "args" (list of flags)
"ports" (container ports) "probes" (probe yaml) "serve" (bool: /livez /readyz over HTTPS)
*/}}
{{- define "clusterpedia.podSpec" -}}
{{- $root := .root -}}
{{- $values := .values -}}
serviceAccountName: {{ include "clusterpedia.componentName" . }}
automountServiceAccountToken: true
{{- include "clusterpedia.imagePullSecrets" $root }}
securityContext:
  {{- include "clusterpedia.podSecurityContext" $root | nindent 2 }}
terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
{{- with $root.Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- include "clusterpedia.initContainers" $root }}
containers:
  - name: {{ .component }}
    image: {{ include "clusterpedia.image" . }}
    imagePullPolicy: {{ include "clusterpedia.imagePullPolicy" . }}
    args:
      {{- .args | nindent 6 }}
      {{- with $values.extraFlags }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    env:
      {{- include "clusterpedia.env" $root | nindent 6 }}
      {{- with $values.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    ports:
      {{- .ports | nindent 6 }}
    {{- .probes | nindent 4 }}
    securityContext:
      {{- include "clusterpedia.containerSecurityContext" $root | nindent 6 }}
    resources:
      {{- toYaml $values.resources | nindent 6 }}
    volumeMounts:
      {{- include "clusterpedia.volumeMounts" $root | nindent 6 }}
      {{- with .extraMounts }}
      {{- . | nindent 6 }}
      {{- end }}
volumes:
  {{- include "clusterpedia.volumes" $root | nindent 2 }}
  {{- with .extraVolumes }}
  {{- . | nindent 2 }}
  {{- end }}
{{- with $values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $values.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.apiserver.probes" -}}
startupProbe:
  httpGet: {path: /livez, port: https, scheme: HTTPS}
  periodSeconds: 2
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /livez, port: https, scheme: HTTPS}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: https, scheme: HTTPS}
  periodSeconds: 5
  failureThreshold: 3
{{- end -}}

{{- define "clusterpedia.apiserver.ports" -}}
- name: https
  containerPort: {{ .Values.apiserver.securePort }}
  protocol: TCP
{{- end -}}

{{- define "clusterpedia.synchro.ports" -}}
- name: metrics
  containerPort: {{ .Values.clustersynchroManager.metricsPort }}
  protocol: TCP
{{- end -}}

{{/* clustersynchro-manager serves /livez, /readyz (the storage answers and the manager runs) and
/metrics (plain HTTP) on its metrics port. */}}
{{- define "clusterpedia.synchro.probes" -}}
livenessProbe:
  httpGet: {path: /livez, port: metrics}
  periodSeconds: 10
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: metrics}
  periodSeconds: 5
{{- end -}}
