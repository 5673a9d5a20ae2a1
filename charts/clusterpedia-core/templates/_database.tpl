{{/*
Helpers for the storage charts backed by a relational database (clusterpedia with an external
database, clusterpedia-postgresql, clusterpedia-mysql). `db` is a dict:
  type (postgres | mysql), host, port, user, database, createDatabase (bool),
  secretName, secretKey (the password), image (the client image of the init container).
*/}}

{{/* The name of the Secret holding the database password: "<release>-<suffix>-storage". */}}
{{- define "clusterpedia.database.secretName" -}}
{{- printf "%s-%s-storage" .root.Release.Name .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The ConfigMap with config.yaml: "<release>-<suffix>-storage-config" (as the original). */}}
{{- define "clusterpedia.database.configMapName" -}}
{{- printf "%s-%s-storage-config" .root.Release.Name .suffix | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* DB_PASSWORD for the components. */}}
{{- define "clusterpedia.database.componentEnv" -}}
- name: DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .db.secretName }}
      key: {{ .db.secretKey }}
{{- end -}}

{{/*
The init container that waits for the database and, when createDatabase, creates it. (The
original tested `= "ture"` and quoted the SQL in single quotes: it never created anything.)
*/}}
{{- define "clusterpedia.database.initContainers" -}}
{{- $db := .db -}}
- name: ensure-database
  image: {{ $db.image }}
  imagePullPolicy: IfNotPresent
  env:
    - name: DB_HOST
      value: {{ $db.host | quote }}
    - name: DB_PORT
      value: {{ $db.port | quote }}
    - name: DB_USER
      value: {{ $db.user | quote }}
    - name: DB_DATABASE
      value: {{ $db.database | quote }}
    - name: CREATE_DATABASE
      value: {{ ternary "true" "false" (eq (toString $db.createDatabase) "true") | quote }}
    - name: DB_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ $db.secretName }}
          key: {{ $db.secretKey }}
  command:
    - /bin/sh
    - -ec
    {{- if eq $db.type "postgres" }}
    - |
      export PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=5
      until pg_isready -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres; do
        echo "waiting for PostgreSQL at $DB_HOST:$DB_PORT"; sleep 2
      done
      if [ "$CREATE_DATABASE" = "true" ]; then
        exists=$(psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -tAc \
          "SELECT 1 FROM pg_database WHERE datname = '$DB_DATABASE'")
        if [ "$exists" != "1" ]; then
          psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d postgres -v ON_ERROR_STOP=1 \
            -c "CREATE DATABASE \"$DB_DATABASE\""
        fi
      fi
      until psql -h "$DB_HOST" -p "$DB_PORT" -U "$DB_USER" -d "$DB_DATABASE" -tAc "SELECT 1" >/dev/null; do
        echo "waiting for the database $DB_DATABASE"; sleep 2
      done
      echo "database $DB_DATABASE is ready"
    {{- else if eq $db.type "mysql" }}
    - |
      export MYSQL_PWD="$DB_PASSWORD"
      until mariadb-admin ping -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" --connect-timeout=5 --silent; do
        echo "waiting for MySQL at $DB_HOST:$DB_PORT"; sleep 2
      done
      if [ "$CREATE_DATABASE" = "true" ]; then
        mariadb -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -e "CREATE DATABASE IF NOT EXISTS \`$DB_DATABASE\`"
      fi
      until mariadb -h "$DB_HOST" -P "$DB_PORT" -u "$DB_USER" -D "$DB_DATABASE" -e "SELECT 1" >/dev/null; do
        echo "waiting for the database $DB_DATABASE"; sleep 2
      done
      echo "database $DB_DATABASE is ready"
    {{- else }}
    {{- fail (printf "database type %q: want postgres or mysql" $db.type) }}
    {{- end }}
  securityContext:
    {{- toYaml .root.Values.containerSecurityContext | nindent 4 }}
  resources:
    limits: {cpu: 100m, memory: 64Mi}
  volumeMounts:
    - name: tmp
      mountPath: /tmp
{{- end -}}

{{/* config.yaml of the `internal` layer for `db`, with storageConfig (log, connPool). */}}
{{- define "clusterpedia.database.config" -}}
type: {{ .db.type }}
host: {{ .db.host | quote }}
port: {{ .db.port }}
user: {{ .db.user | quote }}
database: {{ .db.database | quote }}
{{- with .db.sslMode }}
sslMode: {{ . }}
{{- end }}
{{- with .root.Values.storageConfig }}
{{ toYaml . }}
{{- end }}
{{- end -}}
