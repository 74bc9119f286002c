{{/*
Interception (docs/gateways.md, "SDKs whose hosts are fixed"): payguard answers for the
gateways' own host names with certificates minted from a CA it is given. On when
config.intercept.ca is set. Everything the pod needs for it is here:
  - the CA Secret, mounted for payguard only (payguard.interceptVolumes);
  - the port: intercept.port (443) is privileged, and payguard runs as uid 10001 with no
    capabilities, so the pod sets the namespaced, Kubernetes-"safe" sysctl
    net.ipv4.ip_unprivileged_port_start to that port (payguard.podSysctls). NET_BIND_SERVICE
    would not do: a non-root container's process gets no effective capabilities from
    securityContext.capabilities.add, and allowPrivilegeEscalation: false (no_new_privs) also
    blocks file capabilities on the node binary;
  - hostAliases sending each intercepted name to 127.0.0.1 (payguard.hostAliases; a sidecar
    pod's). They apply to payguard's container too, which is why payguard resolves gateways
    through DNS itself (upstream.resolve: auto);
  - the application's one trust setting, by runtime (payguard.appTrustEnv, payguard.appTrustMounts),
    from a volume holding the CA certificate only, never its key (payguard.appTrustVolume).
*/}}

{{/* Where payguard finds its CA: config.intercept.ca must name these two files. */}}
{{- define "payguard.interceptDir" -}}/etc/payguard-intercept{{- end -}}
{{/* Where the application finds the CA certificate (or the trust bundle). */}}
{{- define "payguard.appTrustDir" -}}/etc/payguard-ca{{- end -}}

{{- define "payguard.intercepting" -}}{{ if dig "intercept" "ca" "" .Values.config }}true{{ end }}{{- end -}}
{{- define "payguard.interceptPort" -}}{{ dig "intercept" "port" 443 .Values.config | int }}{{- end -}}

{{/* The host names payguard answers for, one per line: each gateway's hosts, else its URL's host name. */}}
{{- define "payguard.interceptedHosts" -}}
{{- $fallback := dig "upstream" "url" "" .Values.config -}}
{{- $gateways := dig "gateways" dict .Values.config -}}
{{- if not $gateways -}}
{{- (urlParse $fallback).hostname -}}
{{- end -}}
{{- range $name, $gateway := $gateways -}}
{{- if $gateway.hosts -}}
{{- range $gateway.hosts }}{{ . }}{{ "\n" }}{{ end -}}
{{- else -}}
{{- (urlParse (default $fallback $gateway.url)).hostname }}{{ "\n" }}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The pod's hostAliases (sidecar): every intercepted name → payguard on 127.0.0.1. Empty when not intercepting. */}}
{{- define "payguard.hostAliases" -}}
{{- if include "payguard.intercepting" . -}}
- ip: "127.0.0.1"
  hostnames:
    {{- range splitList "\n" (include "payguard.interceptedHosts" .) }}
    {{- if . }}
    - {{ . | quote }}
    {{- end }}
    {{- end }}
{{- end -}}
{{- end -}}

{{/* The pod's sysctls: the privileged intercept port opened to non-root processes. Empty when not needed. */}}
{{- define "payguard.podSysctls" -}}
{{- $port := include "payguard.interceptPort" . | int -}}
{{- if and (include "payguard.intercepting" .) (lt $port 1024) -}}
- name: net.ipv4.ip_unprivileged_port_start
  value: {{ $port | quote }}
{{- end -}}
{{- end -}}

{{/* payguard's container port for the intercept listener. */}}
{{- define "payguard.interceptContainerPort" -}}
{{- if include "payguard.intercepting" . -}}
- name: https
  containerPort: {{ include "payguard.interceptPort" . }}
  protocol: TCP
{{- end -}}
{{- end -}}

{{/* payguard's mount of its CA (certificate and key). */}}
{{- define "payguard.interceptMount" -}}
{{- if include "payguard.intercepting" . -}}
- name: payguard-intercept-ca
  mountPath: {{ include "payguard.interceptDir" . }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/* The CA Secret as payguard reads it: ca.crt and ca.key, readable by its group (fsGroup 10001) only. */}}
{{- define "payguard.interceptVolumes" -}}
{{- if include "payguard.intercepting" . -}}
{{- with .Values.interception.caSecret }}
- name: payguard-intercept-ca
  secret:
    secretName: {{ .secretName }}
    defaultMode: 288      # 0440: its group (the pod's fsGroup, 10001) reads it; decimal, as YAML 1.1 and 1.2 read it alike
    items:
      - key: {{ .certKey }}
        path: ca.crt
      - key: {{ .keyKey }}
        path: ca.key
{{- end }}
{{- end -}}
{{- end -}}

{{/*
The application's volume of trust: for node and go the CA certificate alone, from the same
Secret (never its key); for python and java, which replace their trust store instead of adding
to it, interception.trustBundle's ConfigMap (the public roots plus the CA).
*/}}
{{- define "payguard.appTrustVolume" -}}
{{- if include "payguard.intercepting" . -}}
{{- $i := .Values.interception -}}
- name: payguard-app-trust
  {{- if has $i.appRuntime (list "python" "java") }}
  configMap:
    name: {{ required "interception.trustBundle.configMap: python and java replace their trust store, so they need a bundle of the public roots plus payguard's CA (e.g. a trust-manager Bundle)" $i.trustBundle.configMap }}
  {{- else }}
  secret:
    secretName: {{ $i.caSecret.secretName }}
    items:
      - key: {{ $i.caSecret.certKey }}
        path: ca.crt
  {{- end }}
{{- end -}}
{{- end -}}

{{/* The application container's mount of payguard.appTrustVolume. */}}
{{- define "payguard.appTrustMounts" -}}
{{- if include "payguard.intercepting" . -}}
- name: payguard-app-trust
  mountPath: {{ include "payguard.appTrustDir" . }}
  readOnly: true
{{- end -}}
{{- end -}}

{{/* The application container's one trust setting, by interception.appRuntime. */}}
{{- define "payguard.appTrustEnv" -}}
{{- if include "payguard.intercepting" . -}}
{{- $dir := include "payguard.appTrustDir" . -}}
{{- $i := .Values.interception -}}
{{- if eq $i.appRuntime "node" }}
# added to Node's bundled roots
- name: NODE_EXTRA_CA_CERTS
  value: {{ $dir }}/ca.crt
{{- else if eq $i.appRuntime "go" }}
# crypto/x509 reads every file of these directories, after its default bundle file
- name: SSL_CERT_DIR
  value: {{ $dir }}
{{- else if eq $i.appRuntime "python" }}
# requests (and the SDKs built on it) read this bundle instead of certifi's
- name: REQUESTS_CA_BUNDLE
  value: {{ $dir }}/{{ $i.trustBundle.pemKey }}
{{- else if eq $i.appRuntime "java" }}
# the JVM's trust store, instead of cacerts
- name: JAVA_TOOL_OPTIONS
  value: {{ printf "-Djavax.net.ssl.trustStore=%s/%s -Djavax.net.ssl.trustStoreType=PKCS12 -Djavax.net.ssl.trustStorePassword=%s" $dir $i.trustBundle.pkcs12Key $i.trustBundle.pkcs12Password | quote }}
{{- end }}
{{- end -}}
{{- end -}}

{{/* Refuses an interception half set up: a CA in the config but no Secret, or the files not where the Secret is mounted. */}}
{{- define "payguard.validateInterception" -}}
{{- $secret := .Values.interception.caSecret.secretName -}}
{{- $ca := dig "intercept" "ca" dict .Values.config -}}
{{- if and $ca (not $secret) -}}
{{- fail "config.intercept.ca is set but interception.caSecret.secretName is empty: name the Secret that holds the CA (it is mounted at /etc/payguard-intercept)" -}}
{{- end -}}
{{- if and $secret (not $ca) -}}
{{- fail "interception.caSecret is set but config.intercept.ca is not: set config.intercept.ca to { certFile: /etc/payguard-intercept/ca.crt, keyFile: /etc/payguard-intercept/ca.key }" -}}
{{- end -}}
{{- $dir := include "payguard.interceptDir" . -}}
{{- if and $ca (or (ne $ca.certFile (printf "%s/ca.crt" $dir)) (ne $ca.keyFile (printf "%s/ca.key" $dir))) -}}
{{- fail (printf "config.intercept.ca must be { certFile: %s/ca.crt, keyFile: %s/ca.key }, where the chart mounts interception.caSecret" $dir $dir) -}}
{{- end -}}
{{- if not (has .Values.interception.appRuntime (list "node" "go" "python" "java")) -}}
{{- fail (printf "interception.appRuntime %v: one of node, go, python, java" .Values.interception.appRuntime) -}}
{{- end -}}
{{- end -}}
