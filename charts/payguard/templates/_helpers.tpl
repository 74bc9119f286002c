{{/*
Helpers. They use only .Values and .Release (plus .Chart when present), so a parent chart can
call payguard.sidecar with (dict "Values" .Values.payguard "Release" .Release).
*/}}

{{- define "payguard.name" -}}
{{- default "payguard" .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "payguard.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "payguard.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "payguard.appVersion" -}}
{{- $v := "0.1.0" -}}
{{- with .Chart }}{{ $v = .AppVersion }}{{ end -}}
{{- $v -}}
{{- end -}}

{{- define "payguard.selectorLabels" -}}
app.kubernetes.io/name: {{ include "payguard.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "payguard.labels" -}}
{{ include "payguard.selectorLabels" . }}
app.kubernetes.io/version: {{ include "payguard.appVersion" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | default "Helm" }}
{{- with .Chart }}
helm.sh/chart: {{ printf "%s-%s" .Name .Version | replace "+" "_" }}
{{- end }}
{{- end -}}

{{/* Name of the ConfigMap holding payguard.yaml. */}}
{{- define "payguard.configName" -}}
{{- printf "%s-config" (include "payguard.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* For a pod template annotation: changes whenever the rendered config changes. */}}
{{- define "payguard.configChecksum" -}}
{{- include "payguard.configYaml" . | sha256sum -}}
{{- end -}}

{{/*
payguard.yaml: the config section as written. Helm merges values.yaml's `upstream` (the
one-gateway shorthand) into every config; under `gateways` payguard refuses a top-level
`upstream`, so the chart's own default is left out there. An `upstream` you changed beside
`gateways` is refused here, not dropped.
*/}}
{{- define "payguard.configYaml" -}}
{{- $config := deepCopy .Values.config -}}
{{- if $config.gateways -}}
{{- if and $config.upstream (not (deepEqual $config.upstream (dict "url" "https://api.stripe.com" "gateway" "auto"))) -}}
{{- fail "config.upstream beside config.gateways: set each gateway's url and upstream settings under gateways.<name> (the upstream: shorthand is one gateway)" -}}
{{- end -}}
{{- $_ := unset $config "upstream" -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{- define "payguard.httpPort" -}}{{ dig "server" "port" 8080 .Values.config | int }}{{- end -}}
{{- define "payguard.webhooks" -}}{{ if dig "webhooks" "endpoints" list .Values.config }}true{{ end }}{{- end -}}
{{- define "payguard.webhookPort" -}}{{ dig "webhooks" "port" 8081 .Values.config | int }}{{- end -}}
{{- define "payguard.adminPort" -}}{{ dig "admin" "port" 9090 .Values.config | int }}{{- end -}}
{{- define "payguard.storeType" -}}{{ dig "store" "type" "sqlite" .Values.config }}{{- end -}}

{{/*
The standalone workload: a StatefulSet, each pod with its own PersistentVolumeClaim, when
persistence is on; a Deployment on an existingClaim (one pod) or an emptyDir.
*/}}
{{- define "payguard.workloadKind" -}}
{{- if and .Values.persistence.enabled (not .Values.persistence.existingClaim) -}}StatefulSet{{- else -}}Deployment{{- end -}}
{{- end -}}

{{/* Whether more than one standalone pod may run: several replicas, or an autoscaler. */}}
{{- define "payguard.severalPods" -}}
{{- if or (dig "autoscaling" "enabled" false .Values) (gt (int .Values.replicaCount) 1) -}}true{{- end -}}
{{- end -}}

{{/* The data volume's mount: store.path (sqlite) and store.journal.dir must lie under it. */}}
{{- define "payguard.dataDir" -}}/var/lib/payguard{{- end -}}

{{/*
Refuses values that would lose or duplicate payments: several standalone pods each with a
store of its own (a retry landing on another pod would be sent again), or a store file or
journal outside the data volume (the root filesystem is read-only).
*/}}
{{- define "payguard.validate" -}}
{{- $type := include "payguard.storeType" . -}}
{{- $perPod := has $type (list "memory" "sqlite") -}}
{{- $several := include "payguard.severalPods" . -}}
{{- if and (eq .Values.mode "standalone") $perPod $several -}}
{{- fail (printf "replicaCount %d (or autoscaling) with config.store.type %s: each pod would keep its own idempotency records, and a retry landing on another pod would be sent again. Use config.store.type redis or postgres, or one replica." (int .Values.replicaCount) $type) -}}
{{- end -}}
{{- if and (eq .Values.mode "standalone") .Values.persistence.existingClaim $several -}}
{{- fail "persistence.existingClaim with several pods: they would share one data volume (one journal file, one SQLite file). Leave existingClaim empty: with persistence.enabled each pod gets a PersistentVolumeClaim of its own." -}}
{{- end -}}
{{- $data := printf "%s/" (include "payguard.dataDir" .) -}}
{{- $path := dig "store" "path" "/var/lib/payguard/payguard.db" .Values.config -}}
{{- if and (eq $type "sqlite") (not (hasPrefix $data $path)) -}}
{{- fail (printf "config.store.path %s must be under %s, the data volume" $path $data) -}}
{{- end -}}
{{- $journal := dig "store" "journal" "dir" "/var/lib/payguard/journal" .Values.config -}}
{{- if and (has $type (list "redis" "postgres")) (not (hasPrefix $data (printf "%s/" $journal))) -}}
{{- fail (printf "config.store.journal.dir %s must be under %s, the data volume" $journal $data) -}}
{{- end -}}
{{- end -}}

{{/*
The payguard container: used by the standalone Deployment and, as payguard.sidecar, inside a
user's own pod. Secrets only by reference (secretKeyRef); the config interpolates them.
*/}}
{{- define "payguard.container" -}}
- name: payguard
  image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default (include "payguard.appVersion" .) }}"
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args: ["serve", "--config", "/etc/payguard/payguard.yaml"]
  ports:
    - name: http
      containerPort: {{ include "payguard.httpPort" . }}
      protocol: TCP
    - name: admin
      containerPort: {{ include "payguard.adminPort" . }}
      protocol: TCP
    {{- with include "payguard.interceptContainerPort" . }}
    {{- . | nindent 4 }}
    {{- end }}
    {{- if include "payguard.webhooks" . }}
    # the gateways' webhook notifications (docs/webhooks.md): the port to expose to them
    - name: webhooks
      containerPort: {{ include "payguard.webhookPort" . }}
      protocol: TCP
    {{- end }}
  env:
    - name: PAYGUARD_CONFIG
      value: /etc/payguard/payguard.yaml
    # the replica column of the outcome ledger
    - name: PAYGUARD_REPLICA
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    {{- with .Values.secrets.redisPassword }}
    {{- if .secretName }}
    - name: REDIS_PASSWORD
      valueFrom:
        secretKeyRef:
          name: {{ .secretName }}
          key: {{ .key }}
    {{- end }}
    {{- end }}
    {{- with .Values.secrets.storeKey }}
    {{- if .secretName }}
    - name: PAYGUARD_STORE_KEY
      valueFrom:
        secretKeyRef:
          name: {{ .secretName }}
          key: {{ .key }}
    {{- end }}
    {{- end }}
    {{- with .Values.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  livenessProbe:
    httpGet:
      path: /healthz
      port: admin
    periodSeconds: {{ .Values.probes.liveness.periodSeconds }}
    failureThreshold: {{ .Values.probes.liveness.failureThreshold }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: admin
    periodSeconds: {{ .Values.probes.readiness.periodSeconds }}
    failureThreshold: {{ .Values.probes.readiness.failureThreshold }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  volumeMounts:
    - name: payguard-config
      mountPath: /etc/payguard
      readOnly: true
    - name: payguard-data
      mountPath: {{ include "payguard.dataDir" . }}
    - name: payguard-tmp
      mountPath: /tmp
    {{- with include "payguard.interceptMount" . }}
    {{- . | nindent 4 }}
    {{- end }}
{{- end -}}

{{/* The container to add to your own pod's `containers:` (sidecar mode). */}}
{{- define "payguard.sidecar" -}}
{{ include "payguard.container" . }}
{{- end -}}

{{/* The pod's volumes but the data volume (which a StatefulSet takes from its volumeClaimTemplates). */}}
{{- define "payguard.configAndTmpVolumes" -}}
- name: payguard-config
  configMap:
    name: {{ include "payguard.configName" . }}
- name: payguard-tmp
  emptyDir:
    sizeLimit: 16Mi
{{- include "payguard.interceptVolumes" . }}
{{- end -}}

{{/* The data volume of a pod that is not a StatefulSet's: an existing PVC, or an emptyDir (deleted with the pod). */}}
{{- define "payguard.dataVolume" -}}
- name: payguard-data
  {{- if .Values.persistence.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.persistence.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .Values.persistence.sizeLimit }}
  {{- end }}
{{- end -}}

{{/* The volumes payguard.sidecar mounts, and the application's trust volume when intercepting: add them to your own pod's `volumes:`. */}}
{{- define "payguard.sidecarVolumes" -}}
{{ include "payguard.configAndTmpVolumes" . }}
{{ include "payguard.dataVolume" . }}
{{- with include "payguard.appTrustVolume" . }}
{{ . }}
{{- end }}
{{- end -}}

{{/*
The standalone pod template, for the Deployment and the StatefulSet alike. Called with the
top-level context, from the workload's own template (the config checksum reads
$.Template.BasePath).
*/}}
{{- define "payguard.podTemplate" -}}
metadata:
  annotations:
    checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "payguard.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  automountServiceAccountToken: false
  # > config.shutdown.readinessDelay + config.shutdown.drainTimeout + config.shutdown.settleTimeout
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- $security := deepCopy .Values.podSecurityContext }}
    {{- with include "payguard.podSysctls" . }}
    {{- $_ := set $security "sysctls" (concat (default list $security.sysctls) (fromYamlArray .)) }}
    {{- end }}
    {{- toYaml $security | nindent 4 }}
  containers:
    {{- include "payguard.container" . | nindent 4 }}
  volumes:
    {{- include "payguard.configAndTmpVolumes" . | nindent 4 }}
    {{- if eq (include "payguard.workloadKind" .) "Deployment" }}
    {{- include "payguard.dataVolume" . | nindent 4 }}
    {{- end }}
  topologySpreadConstraints:
    {{- if .Values.topologySpreadConstraints }}
    {{- toYaml .Values.topologySpreadConstraints | nindent 4 }}
    {{- else }}
    - maxSkew: 1
      topologyKey: kubernetes.io/hostname
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "payguard.selectorLabels" . | nindent 10 }}
    - maxSkew: 1
      topologyKey: topology.kubernetes.io/zone
      whenUnsatisfiable: ScheduleAnyway
      labelSelector:
        matchLabels:
          {{- include "payguard.selectorLabels" . | nindent 10 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
