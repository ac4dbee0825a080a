{{/* Chart name, truncated to the 63 characters a label allows. */}}
{{- define "skiplock.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: "<release>-<chart>", or the release name when it already contains the chart's. */}}
{{- define "skiplock.fullname" -}}
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

{{- define "skiplock.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels for every object. Call with (dict "ctx" $ "component" "api"). */}}
{{- define "skiplock.labels" -}}
helm.sh/chart: {{ include "skiplock.chart" .ctx }}
{{ include "skiplock.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: skiplock
{{- with .ctx.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels: immutable on Deployments, so only name, instance and component. */}}
{{- define "skiplock.selectorLabels" -}}
app.kubernetes.io/name: {{ include "skiplock.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end }}

{{- define "skiplock.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "skiplock.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "skiplock.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "skiplock.operator.serviceAccountName" -}}
{{- if .Values.operator.serviceAccount.create }}
{{- default (printf "%s-operator" (include "skiplock.fullname" .)) .Values.operator.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.operator.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret holding the database and Redis passwords. */}}
{{- define "skiplock.secretName" -}}
{{- default (include "skiplock.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/* The Secret holding the API keys (admin-key, reader-key): the only Secret the operator
may read. Without the operator, an existingSecret may hold the keys with the passwords. */}}
{{- define "skiplock.keysSecretName" -}}
{{- if .Values.secret.existingKeysSecret }}
{{- .Values.secret.existingKeysSecret }}
{{- else if .Values.secret.existingSecret }}
{{- if .Values.operator.enabled }}
{{- fail "secret.existingSecret holds the database passwords, and the operator must not read them: put the API keys (admin-key, optionally reader-key) in a Secret of their own and name it in secret.existingKeysSecret" }}
{{- end }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- printf "%s-keys" (include "skiplock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/* The namespaces the operator watches; the release's own is always among them. */}}
{{- define "skiplock.operator.namespaces" -}}
{{- $namespaces := .Values.operator.watchNamespaces | default (list .Release.Namespace) }}
{{- if not (has .Release.Namespace $namespaces) }}
{{- fail (printf "operator.watchNamespaces %v must include the release namespace %q: the release's TaskQueue and API-key Secret live there, so without it its workers would never scale" $namespaces .Release.Namespace) }}
{{- end }}
{{- toJson $namespaces }}
{{- end }}

{{- define "skiplock.mysql.fullname" -}}
{{- printf "%s-mysql" (include "skiplock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "skiplock.redis.fullname" -}}
{{- printf "%s-redis" (include "skiplock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "skiplock.api.fullname" -}}
{{- printf "%s-api" (include "skiplock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "skiplock.worker.fullname" -}}
{{- printf "%s-worker" (include "skiplock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "skiplock.operator.fullname" -}}
{{- printf "%s-operator" (include "skiplock.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Whether the operator owns the worker Deployment's replicas (then the chart leaves them out). */}}
{{- define "skiplock.operatorScalesWorkers" -}}
{{- if and .Values.operator.enabled .Values.taskQueue.create .Values.taskQueue.autoscaling.enabled }}true{{ end }}
{{- end }}

{{/* Env vars that assemble SKIPLOCK_DATABASE_URL; the password never appears in a manifest. */}}
{{- define "skiplock.databaseEnv" -}}
{{- if .Values.mysql.enabled }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "skiplock.secretName" . }}
      key: mysql-password
- name: SKIPLOCK_DATABASE_URL
  value: {{ printf "mysql+pymysql://%s:$(DATABASE_PASSWORD)@%s:3306/%s" .Values.mysql.auth.username (include "skiplock.mysql.fullname" .) .Values.mysql.auth.database | quote }}
{{- else }}
{{- $db := .Values.externalDatabase }}
{{- $secret := default (include "skiplock.secretName" .) $db.existingSecret }}
{{- if $db.existingSecretUrlKey }}
- name: SKIPLOCK_DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $db.existingSecretUrlKey }}
{{- else }}
- name: DATABASE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $db.existingSecretPasswordKey }}
- name: SKIPLOCK_DATABASE_URL
  value: {{ printf "mysql+pymysql://%s:$(DATABASE_PASSWORD)@%s:%d/%s" $db.user (required "externalDatabase.host is required when mysql.enabled is false" $db.host) (int $db.port) $db.database | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Env vars that assemble SKIPLOCK_REDIS_URL. */}}
{{- define "skiplock.redisEnv" -}}
{{- if .Values.redis.enabled }}
{{- if .Values.redis.auth.enabled }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "skiplock.secretName" . }}
      key: redis-password
- name: SKIPLOCK_REDIS_URL
  value: {{ printf "redis://:$(REDIS_PASSWORD)@%s:6379/0" (include "skiplock.redis.fullname" .) | quote }}
{{- else }}
- name: SKIPLOCK_REDIS_URL
  value: {{ printf "redis://%s:6379/0" (include "skiplock.redis.fullname" .) | quote }}
{{- end }}
{{- else }}
{{- $r := .Values.externalRedis }}
{{- $scheme := ternary "rediss" "redis" $r.tls }}
{{- $host := required "externalRedis.host is required when redis.enabled is false" $r.host }}
{{- if or $r.password $r.existingSecret }}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ default (include "skiplock.secretName" .) $r.existingSecret }}
      key: {{ $r.existingSecretPasswordKey }}
- name: SKIPLOCK_REDIS_URL
  value: {{ printf "%s://:$(REDIS_PASSWORD)@%s:%d/%d" $scheme $host (int $r.port) (int $r.db) | quote }}
{{- else }}
- name: SKIPLOCK_REDIS_URL
  value: {{ printf "%s://%s:%d/%d" $scheme $host (int $r.port) (int $r.db) | quote }}
{{- end }}
{{- end }}
{{- end }}

{{/* Everything the engine needs, for the api and worker containers. Only the api pods
bootstrap the admin key, so only they get it: workers run user handler code. */}}
{{- define "skiplock.engineEnv" -}}
- name: SKIPLOCK_INSTANCE_ID
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- include "skiplock.databaseEnv" . }}
{{- include "skiplock.redisEnv" . }}
{{- end }}

{{/* The admin and reader keys, for the pods that bootstrap them (the api pods). A
Secret of the user's may lack reader-key: the operator then reads with the admin key. */}}
{{- define "skiplock.adminKeyEnv" -}}
- name: SKIPLOCK_ADMIN_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "skiplock.keysSecretName" . }}
      key: admin-key
- name: SKIPLOCK_READER_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "skiplock.keysSecretName" . }}
      key: reader-key
      optional: true
{{- end }}

{{/* The engine URL of this release (its api Service), the one the operator may use. */}}
{{- define "skiplock.engineUrl" -}}
{{- printf "http://%s.%s.svc:%d" (include "skiplock.api.fullname" .) .Release.Namespace (int .Values.api.service.port) }}
{{- end }}

{{/* Container ports of every engine pod: the API and the metrics port. */}}
{{- define "skiplock.enginePorts" -}}
- name: http
  containerPort: {{ .Values.config.port }}
  protocol: TCP
- name: metrics
  containerPort: {{ .Values.config.metricsPort }}
  protocol: TCP
{{- end }}

{{/* The ingress-nginx body size for config.maxBodyBytes: whole mebibytes as "16m". */}}
{{- define "skiplock.nginxBodySize" -}}
{{- $bytes := int64 .Values.config.maxBodyBytes }}
{{- if eq (mod $bytes 1048576) 0 }}{{ printf "%dm" (div $bytes 1048576) }}{{ else }}{{ printf "%d" $bytes }}{{ end }}
{{- end }}

{{/* Restart pods when settings change. The Secret's generated values survive upgrades
(lookup), so hashing the values that feed it is stable, unlike hashing the render. */}}
{{- define "skiplock.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ list .Values.secret .Values.externalDatabase .Values.externalRedis .Values.redis.auth | toJson | sha256sum }}
{{- end }}

{{/* One Secret value (base64): given > kept from the live Secret > generated.
Call with (dict "given" "..." "existing" $data "key" "admin-key" "generated" "..."). */}}
{{- define "skiplock.secretValue" -}}
{{- if .given }}
{{- .given | b64enc }}
{{- else if hasKey .existing .key }}
{{- index .existing .key }}
{{- else }}
{{- .generated | b64enc }}
{{- end }}
{{- end }}
