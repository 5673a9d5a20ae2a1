{{/*
For storage charts that depend on this one (clusterpedia, clusterpedia-postgresql,
clusterpedia-mysql): renders every object with the storage chart's top-level values merged over
this chart's defaults, so that a storage chart's users set `apiserver.replicaCount`, not
`clusterpedia-core.apiserver.replicaCount`, and the storage chart's override templates see its
own values. The storage chart sets `clusterpedia-core.embedded: true` and has one template:
  {{ include "clusterpedia.core.embedded" . }}
*/}}
{{- define "clusterpedia.core.embedded" -}}
{{- $values := deepCopy (index .Values "clusterpedia-core") -}}
{{- $_ := include "clusterpedia.merge" (dict "dst" $values "src" (omit .Values "clusterpedia-core")) -}}
{{- $_ := set $values "embedded" false -}}
{{- $ctx := dict "Values" $values "Release" .Release "Chart" .Chart "Capabilities" .Capabilities "Files" .Files "Template" .Template -}}
{{- $_ := include "clusterpedia.storage.override.values" $ctx -}}
{{- include "clusterpedia.core.manifests" $ctx -}}
{{- end -}}

{{/* The NOTES of an embedding chart. */}}
{{- define "clusterpedia.core.embeddedNotes" -}}
{{- $values := deepCopy (index .Values "clusterpedia-core") -}}
{{- $_ := include "clusterpedia.merge" (dict "dst" $values "src" (omit .Values "clusterpedia-core")) -}}
{{- $ctx := dict "Values" $values "Release" .Release "Chart" .Chart "Capabilities" .Capabilities "Files" .Files "Template" .Template -}}
{{- $_ := include "clusterpedia.storage.override.values" $ctx -}}
{{- include "clusterpedia.core.notes" $ctx -}}
{{- end -}}

{{/* Deep merge: src's values replace dst's (false and "" included), maps merge. */}}
{{- define "clusterpedia.merge" -}}
{{- $dst := .dst -}}
{{- range $key, $value := .src -}}
{{- if and (kindIs "map" $value) (kindIs "map" (index $dst $key)) -}}
{{- $_ := include "clusterpedia.merge" (dict "dst" (index $dst $key) "src" $value) -}}
{{- else -}}
{{- $_ := set $dst $key $value -}}
{{- end -}}
{{- end -}}
{{- end -}}
