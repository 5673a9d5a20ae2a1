{{/*
Every object of the chart, rendered from a context: this chart's own (templates/core.yaml) or,
in a storage chart, the storage chart's values merged over this chart's defaults
(clusterpedia.core.embedded).
*/}}
{{- define "clusterpedia.core.manifests" -}}
{{- with (include "clusterpedia.core.crds" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.serviceaccounts" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.storage-configmap" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.rbac" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.apiserver" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.clustersynchro-manager" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.binding-apiserver" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.service" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.apiservice" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.poddisruptionbudget" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.servicemonitors" . | trim) }}
---
{{ . }}
{{- end }}
{{- with (include "clusterpedia.core.test-api" . | trim) }}
---
{{ . }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.crds" -}}
{{- if .Values.installCRDs }}
{{- range $path, $_ := .Files.Glob "files/crds/*.yaml" }}
{{- $crd := $.Files.Get $path | fromYaml }}
{{- $meta := $crd.metadata }}
{{- if $.Values.crds.keep }}
{{- $_ := set $meta "annotations" (merge (dict "helm.sh/resource-policy" "keep") ($meta.annotations | default dict)) }}
{{- end }}
{{- $_ := set $meta "labels" (merge (include "clusterpedia.labels" $ | fromYaml) ($meta.labels | default dict)) }}
---
{{ toYaml $crd }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.serviceaccounts" -}}
{{- range $component := list "apiserver" "clustersynchro-manager" "binding-apiserver" }}
{{- $on := ternary $.Values.bindingApiserver.enabled (not $.Values.bindingApiserver.enabled) (eq $component "binding-apiserver") }}
{{- if and $on (or (ne $component "apiserver") $.Values.apiserver.enabled) (or (ne $component "clustersynchro-manager") $.Values.clustersynchroManager.enabled) }}
{{- $ctx := dict "root" $ "component" $component }}
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
  {{- with $.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: false
{{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.storage-configmap" -}}
{{- if and .Values.storage.config (not (include "clusterpedia.storage.override.configmap.name" . | trim)) (not .Values.storage.configMap) (not .Values.storage.configmap) }}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ include "clusterpedia.storage.generatedConfigMapName" . }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.labels" . | nindent 4 }}
data:
  config.yaml: |
    {{- toYaml .Values.storage.config | nindent 4 }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.rbac" -}}
{{- /*
Least privilege per component (the original bound one all-verbs-on-all-resources ClusterRole to all of them):
- apiserver: read PediaClusters and ClusterSyncResources; delegated authentication and
  authorization (system:auth-delegator, and the extension-apiserver-authentication ConfigMap);
- clustersynchro-manager: PediaClusters (finalizers, status), ClusterSyncResources, events; in
  the release namespace: the Secrets named by authenticationFrom, and leases;
- binding-apiserver: both.
*/ -}}
{{- $components := list -}}
{{- if .Values.bindingApiserver.enabled -}}
{{- $components = list "binding-apiserver" -}}
{{- else -}}
{{- if .Values.apiserver.enabled }}{{ $components = append $components "apiserver" }}{{ end -}}
{{- if .Values.clustersynchroManager.enabled }}{{ $components = append $components "clustersynchro-manager" }}{{ end -}}
{{- end -}}
{{- range $component := $components }}
{{- $ctx := dict "root" $ "component" $component }}
{{- $name := include "clusterpedia.componentName" $ctx }}
{{- $serves := ne $component "clustersynchro-manager" }}
{{- $syncs := ne $component "apiserver" }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: {{ $name }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
rules:
  {{- if $serves }}
  - apiGroups: [cluster.clusterpedia.io]
    resources: [pediaclusters, clustersyncresources]
    verbs: [get, list, watch]
  {{- end }}
  {{- if $syncs }}
  - apiGroups: [cluster.clusterpedia.io]
    resources: [pediaclusters]
    verbs: [get, list, watch, update, patch]
  - apiGroups: [cluster.clusterpedia.io]
    resources: [pediaclusters/status]
    verbs: [get, update, patch]
  - apiGroups: [cluster.clusterpedia.io]
    resources: [clustersyncresources]
    verbs: [get, list, watch]
  - apiGroups: ["", events.k8s.io]
    resources: [events]
    verbs: [create, patch, update]
  {{- end }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
{{- if $serves }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: {{ $name }}-auth-delegator
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: system:auth-delegator
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}-auth-reader
  namespace: kube-system
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: extension-apiserver-authentication-reader
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
{{- end }}
{{- if $syncs }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
rules:
  - apiGroups: [""]
    resources: [secrets]
    verbs: [get, list, watch]
  - apiGroups: [coordination.k8s.io]
    resources: [leases]
    # get/create/update: leader election; list: the replicas' and clusters' Leases when the
    # PediaClusters are sharded (clustersynchroManager.shardClusters).
    verbs: [get, list, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $.Release.Namespace }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.apiserver" -}}
{{- if and .Values.apiserver.enabled (not .Values.bindingApiserver.enabled) }}
{{- $ctx := dict "root" . "component" "apiserver" "values" .Values.apiserver }}
{{- $args := printf "%s\n%s" (include "clusterpedia.storage.args" .) (include "clusterpedia.apiserver.args" .) }}
{{- $_ := set $ctx "args" $args }}
{{- $_ := set $ctx "ports" (include "clusterpedia.apiserver.ports" .) }}
{{- $_ := set $ctx "probes" (include "clusterpedia.apiserver.probes" .) }}
{{- /* Every replica signs continue tokens with one key, so that a token minted by one is
accepted by the others and after a restart (docs/operations.md). */}}
{{- $keySecret := .Values.apiserver.continueTokenKey.existingSecret | default (printf "%s-continue-token-key" (include "clusterpedia.fullname" .)) }}
{{- $_ := set $ctx "args" (printf "%s\n- --continue-token-key-file=/etc/clusterpedia/continue-token/key" $args) }}
{{- $_ := set $ctx "extraMounts" "- name: continue-token-key\n  mountPath: /etc/clusterpedia/continue-token\n  readOnly: true" }}
{{- $_ := set $ctx "extraVolumes" (printf "- name: continue-token-key\n  secret:\n    secretName: %s\n    defaultMode: 0400\n    items:\n      - key: %s\n        path: key" $keySecret .Values.apiserver.continueTokenKey.key) }}
{{- if not .Values.apiserver.continueTokenKey.existingSecret }}
{{- $old := lookup "v1" "Secret" .Release.Namespace $keySecret }}
apiVersion: v1
kind: Secret
metadata:
  name: {{ $keySecret }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
type: Opaque
data:
  # Generated once (kept on upgrades); the golden files show a placeholder.
  {{ .Values.apiserver.continueTokenKey.key }}: {{ index ($old.data | default dict) .Values.apiserver.continueTokenKey.key | default (randAlphaNum 48 | b64enc) }}
---
{{- end }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
  {{- with (include "clusterpedia.annotations" . | trim) }}{{ . | nindent 2 }}{{ end }}
spec:
  replicas: {{ .Values.apiserver.replicaCount }}
  selector:
    matchLabels:
      {{- include "clusterpedia.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "clusterpedia.componentLabels" $ctx | nindent 8 }}
        {{- with .Values.apiserver.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/storage-config: {{ toYaml .Values.storage.config | sha256sum | trunc 16 }}
        {{- with .Values.apiserver.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "clusterpedia.podSpec" $ctx | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.clustersynchro-manager" -}}
{{- if and .Values.clustersynchroManager.enabled (not .Values.bindingApiserver.enabled) }}
{{- $ctx := dict "root" . "component" "clustersynchro-manager" "values" .Values.clustersynchroManager }}
{{- $args := printf "%s\n%s" (include "clusterpedia.storage.args" .) (include "clusterpedia.synchro.args" .) }}
{{- $_ := set $ctx "args" $args }}
{{- $_ := set $ctx "ports" (include "clusterpedia.synchro.ports" .) }}
{{- $_ := set $ctx "probes" (include "clusterpedia.synchro.probes" .) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
  {{- with (include "clusterpedia.annotations" . | trim) }}{{ . | nindent 2 }}{{ end }}
spec:
  replicas: {{ .Values.clustersynchroManager.replicaCount }}
  # Leader election (or, with shardClusters, one Lease per PediaCluster) keeps two replicas
  # from syncing the same cluster; a rolling update hands the Leases over (released on
  # SIGTERM).
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxUnavailable: 0, maxSurge: 1}
  selector:
    matchLabels:
      {{- include "clusterpedia.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "clusterpedia.componentLabels" $ctx | nindent 8 }}
        {{- with .Values.clustersynchroManager.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/storage-config: {{ toYaml .Values.storage.config | sha256sum | trunc 16 }}
        {{- with .Values.clustersynchroManager.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "clusterpedia.podSpec" $ctx | nindent 6 }}
---
apiVersion: v1
kind: Service
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}-metrics
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "clusterpedia.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: metrics
      port: {{ .Values.clustersynchroManager.metricsPort }}
      targetPort: metrics
      protocol: TCP
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.binding-apiserver" -}}
{{- if .Values.bindingApiserver.enabled }}
{{- $ctx := dict "root" . "component" "binding-apiserver" "values" .Values.bindingApiserver }}
{{- $args := printf "%s\n%s\n%s" (include "clusterpedia.storage.args" .) (include "clusterpedia.apiserver.args" .) (include "clusterpedia.synchro.args" .) }}
{{- $_ := set $ctx "args" $args }}
{{- $_ := set $ctx "ports" (printf "%s\n%s" (include "clusterpedia.apiserver.ports" .) (include "clusterpedia.synchro.ports" .)) }}
{{- $_ := set $ctx "probes" (include "clusterpedia.apiserver.probes" .) }}
{{- $_ := set $ctx "extraMounts" "- name: data\n  mountPath: /var/lib/clusterpedia" }}
{{- $persistent := .Values.bindingApiserver.persistence.enabled }}
{{- if not $persistent }}
{{- $_ := set $ctx "extraVolumes" "- name: data\n  emptyDir: {}" }}
{{- end }}
# One process, one replica: the apiserver and the clustersynchro-manager share the storage (the
# in-process `memory` layer, or the embedded SQLite database under /var/lib/clusterpedia).
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
  {{- with (include "clusterpedia.annotations" . | trim) }}{{ . | nindent 2 }}{{ end }}
spec:
  replicas: 1
  serviceName: {{ include "clusterpedia.componentName" $ctx }}
  selector:
    matchLabels:
      {{- include "clusterpedia.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "clusterpedia.componentLabels" $ctx | nindent 8 }}
        {{- with .Values.bindingApiserver.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/storage-config: {{ toYaml .Values.storage.config | sha256sum | trunc 16 }}
        {{- with .Values.bindingApiserver.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      {{- include "clusterpedia.podSpec" $ctx | nindent 6 }}
  {{- if $persistent }}
  volumeClaimTemplates:
    - metadata:
        name: data
        labels:
          {{- include "clusterpedia.selectorLabels" $ctx | nindent 10 }}
      spec:
        accessModes:
          {{- toYaml .Values.bindingApiserver.persistence.accessModes | nindent 10 }}
        {{- with .Values.bindingApiserver.persistence.storageClass }}
        storageClassName: {{ . }}
        {{- end }}
        resources:
          requests:
            storage: {{ .Values.bindingApiserver.persistence.size }}
  {{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.service" -}}
{{- if or .Values.bindingApiserver.enabled .Values.apiserver.enabled }}
{{- $ctx := dict "root" . "component" (include "clusterpedia.servingComponent" .) }}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "clusterpedia.selectorLabels" $ctx | nindent 4 }}
  ports:
    - name: https
      port: 443
      targetPort: https
      protocol: TCP
    {{- if .Values.bindingApiserver.enabled }}
    - name: metrics
      port: {{ .Values.clustersynchroManager.metricsPort }}
      targetPort: metrics
      protocol: TCP
    {{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.apiservice" -}}
{{- if and .Values.apiService.enabled (or .Values.bindingApiserver.enabled .Values.apiserver.enabled) }}
{{- $ctx := dict "root" . "component" (include "clusterpedia.servingComponent" .) }}
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta1.clusterpedia.io
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
spec:
  group: clusterpedia.io
  version: v1beta1
  groupPriorityMinimum: {{ .Values.apiService.groupPriorityMinimum }}
  versionPriority: {{ .Values.apiService.versionPriority }}
  service:
    name: {{ include "clusterpedia.componentName" $ctx }}
    namespace: {{ .Release.Namespace }}
    port: 443
  {{- if .Values.apiService.caBundle }}
  caBundle: {{ .Values.apiService.caBundle | b64enc }}
  {{- else }}
  insecureSkipTLSVerify: true
  {{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.poddisruptionbudget" -}}
{{- $pdb := .Values.apiserver.podDisruptionBudget }}
{{- if and $pdb.enabled .Values.apiserver.enabled (not .Values.bindingApiserver.enabled) (gt (int .Values.apiserver.replicaCount) 1) }}
{{- $ctx := dict "root" . "component" "apiserver" }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
spec:
  {{- if $pdb.minAvailable }}
  minAvailable: {{ $pdb.minAvailable }}
  {{- else }}
  maxUnavailable: {{ $pdb.maxUnavailable }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "clusterpedia.selectorLabels" $ctx | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.servicemonitors" -}}
{{- /* Prometheus Operator ServiceMonitors for /metrics (needs the monitoring.coreos.com CRDs). */ -}}
{{- $monitors := list -}}
{{- if .Values.bindingApiserver.enabled -}}
{{- if .Values.bindingApiserver.serviceMonitor.enabled -}}
{{- $monitors = append $monitors (dict "component" "binding-apiserver" "service" "" "port" "metrics" "scheme" "http" "values" .Values.bindingApiserver.serviceMonitor) -}}
{{- end -}}
{{- else -}}
{{- if and .Values.apiserver.enabled .Values.apiserver.serviceMonitor.enabled -}}
{{- $monitors = append $monitors (dict "component" "apiserver" "service" "" "port" "https" "scheme" "https" "values" .Values.apiserver.serviceMonitor) -}}
{{- end -}}
{{- if and .Values.clustersynchroManager.enabled .Values.clustersynchroManager.serviceMonitor.enabled -}}
{{- $monitors = append $monitors (dict "component" "clustersynchro-manager" "service" "-metrics" "port" "metrics" "scheme" "http" "values" .Values.clustersynchroManager.serviceMonitor) -}}
{{- end -}}
{{- end -}}
{{- range $monitors }}
{{- $ctx := dict "root" $ "component" .component }}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
    {{- with .values.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "clusterpedia.selectorLabels" $ctx | nindent 6 }}
  endpoints:
    - port: {{ .port }}
      path: /metrics
      scheme: {{ .scheme }}
      interval: {{ .values.interval }}
      {{- if eq .scheme "https" }}
      tlsConfig:
        insecureSkipVerify: true
      {{- end }}
{{- end }}
{{- end -}}

{{- define "clusterpedia.core.test-api" -}}
{{- if or .Values.bindingApiserver.enabled .Values.apiserver.enabled }}
{{- $ctx := dict "root" . "component" "test" }}
apiVersion: v1
kind: Pod
metadata:
  name: {{ include "clusterpedia.componentName" $ctx }}
  namespace: {{ .Release.Namespace }}
  labels:
    {{- include "clusterpedia.componentLabels" $ctx | nindent 4 }}
  annotations:
    helm.sh/hook: test
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  restartPolicy: Never
  automountServiceAccountToken: true
  serviceAccountName: {{ include "clusterpedia.componentName" (dict "root" . "component" (include "clusterpedia.servingComponent" .)) }}
  securityContext:
    {{- include "clusterpedia.podSecurityContext" . | nindent 4 }}
  containers:
    - name: kubectl
      image: {{ .Values.tests.image }}
      # The aggregated API answers through the kube-apiserver: discovery of clusterpedia.io/v1beta1.
      args: ["get", "--raw", "/apis/clusterpedia.io/v1beta1"]
      securityContext:
        {{- include "clusterpedia.containerSecurityContext" . | nindent 8 }}
      resources:
        limits: {cpu: 100m, memory: 64Mi}
{{- end }}
{{- end -}}
