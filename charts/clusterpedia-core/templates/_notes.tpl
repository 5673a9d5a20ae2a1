{{- define "clusterpedia.core.notes" -}}
Clusterpedia {{ .Chart.AppVersion }} with the "{{ include "clusterpedia.storage.name" . }}" storage layer is installed in {{ .Release.Namespace }}.
{{- $ctx := dict "root" . "component" (include "clusterpedia.servingComponent" .) }}
Image: {{ include "clusterpedia.image" (dict "root" . "component" (include "clusterpedia.servingComponent" .) "values" (ternary .Values.bindingApiserver .Values.apiserver .Values.bindingApiserver.enabled)) }}

Wait until it serves:
  kubectl -n {{ .Release.Namespace }} rollout status {{ if .Values.bindingApiserver.enabled }}statefulset{{ else }}deployment{{ end }}/{{ include "clusterpedia.componentName" $ctx }}
  kubectl get apiservice v1beta1.clusterpedia.io

Import a cluster (a PediaCluster), then watch it sync:
  kubectl get pediaclusters
  kubectl get --raw /apis/clusterpedia.io/v1beta1 | head -c 300

Search every synced cluster through the aggregated API:
  kubectl get --raw "/apis/clusterpedia.io/v1beta1/resources/apis/apps/v1/deployments?limit=10"
  kubectl --server "$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')/apis/clusterpedia.io/v1beta1/resources" get pods -A

Check the install:
  helm test {{ .Release.Name }} -n {{ .Release.Namespace }}
{{- if and .Values.apiserver.serviceMonitor.enabled (not (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1")) }}

WARNING: apiserver.serviceMonitor.enabled but the monitoring.coreos.com/v1 API is not served.
{{- end }}
{{- end -}}
