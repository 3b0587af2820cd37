{{/*
Shared names, labels and paths. Every template takes its labels, image
references and host paths from here and from values: none is spelled out in
a template.
*/}}

{{/* The CSI driver name: the name freshfs-csi reports in GetPluginInfo. */}}
{{- define "freshfs.driverName" -}}
freshfs.csi.dev
{{- end }}

{{- define "freshfs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name, at most 63 characters (DNS label). */}}
{{- define "freshfs.fullname" -}}
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

{{- define "freshfs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "freshfs.labels" -}}
helm.sh/chart: {{ include "freshfs.chart" . }}
{{ include "freshfs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "freshfs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "freshfs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
Labels and selector labels of one component (node, controller):
  include "freshfs.componentLabels" (dict "root" $ "component" "node")
*/}}
{{- define "freshfs.componentLabels" -}}
{{ include "freshfs.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "freshfs.componentSelectorLabels" -}}
{{ include "freshfs.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
An image reference from an image block of values (repository, tag):
  include "freshfs.image" (dict "image" .Values.image "defaultTag" .Chart.AppVersion)
*/}}
{{- define "freshfs.image" -}}
{{- $tag := .image.tag | default .defaultTag | toString }}
{{- if not $tag }}
{{- fail (printf "image %s: no tag" .image.repository) }}
{{- end }}
{{- printf "%s:%s" .image.repository $tag }}
{{- end }}

{{- define "freshfs.nodeServiceAccountName" -}}
{{- if .Values.node.serviceAccount.create }}
{{- default (printf "%s-node" (include "freshfs.fullname" .)) .Values.node.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.node.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "freshfs.controllerServiceAccountName" -}}
{{- if .Values.controller.serviceAccount.create }}
{{- default (printf "%s-controller" (include "freshfs.fullname" .)) .Values.controller.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.controller.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Host paths, all derived from values. */}}
{{- define "freshfs.kubeletDir" -}}
{{- .Values.kubeletDir | trimSuffix "/" }}
{{- end }}

{{/* Where kubelet looks for the plugin's socket: <kubeletDir>/plugins/<driver>. */}}
{{- define "freshfs.pluginDir" -}}
{{- printf "%s/plugins/%s" (include "freshfs.kubeletDir" .) (include "freshfs.driverName" .) }}
{{- end }}

{{/* Where node-driver-registrar announces the plugin to kubelet. */}}
{{- define "freshfs.registrationDir" -}}
{{- printf "%s/plugins_registry" (include "freshfs.kubeletDir" .) }}
{{- end }}

{{/* Pods' volume directories: kubelet's target paths lie below it. */}}
{{- define "freshfs.podsDir" -}}
{{- printf "%s/pods" (include "freshfs.kubeletDir" .) }}
{{- end }}

{{/* Inside the containers: the socket's directory and the driver config. */}}
{{- define "freshfs.socketDir" -}}
/csi
{{- end }}

{{- define "freshfs.socketPath" -}}
{{- printf "%s/csi.sock" (include "freshfs.socketDir" .) }}
{{- end }}

{{- define "freshfs.configDir" -}}
/etc/freshfs
{{- end }}

{{- define "freshfs.configFile" -}}
{{- printf "%s/driver.yaml" (include "freshfs.configDir" .) }}
{{- end }}

{{/*
The host's cgroup v2 tree (where the node's cgroup v2 filesystem is mounted)
and where the node plugin sees it: not at /sys/fs/cgroup, which in a
container on cgroup v2 is the container's own cgroup.
*/}}
{{- define "freshfs.hostCgroupDir" -}}
/sys/fs/cgroup
{{- end }}

{{- define "freshfs.hostCgroupMountPath" -}}
/host/sys/fs/cgroup
{{- end }}

{{- define "freshfs.configMapName" -}}
{{- printf "%s-config" (include "freshfs.fullname" .) }}
{{- end }}

{{/*
Volume mounts / volumes of driver.allowedDirRoots: each root at the same
path as on the host (volume sources name host paths). HostToContainer: a
filesystem mounted at or under a root after the pod started is seen.
*/}}
{{- define "freshfs.dirRootMounts" -}}
{{- range $i, $root := .Values.driver.allowedDirRoots }}
- name: dir-root-{{ $i }}
  mountPath: {{ $root }}
  mountPropagation: HostToContainer
{{- end }}
{{- end }}

{{- define "freshfs.dirRootVolumes" -}}
{{- range $i, $root := .Values.driver.allowedDirRoots }}
- name: dir-root-{{ $i }}
  hostPath:
    path: {{ $root }}
    type: DirectoryOrCreate
{{- end }}
{{- end }}

{{/* The securityContext of every sidecar: nothing beyond an unprivileged process. */}}
{{- define "freshfs.sidecarSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
{{- end }}

{{/* Refusals that a JSON schema cannot express across components. */}}
{{- define "freshfs.validate" -}}
{{- if and .Values.storageClass.create (not .Values.controller.enabled) }}
{{- fail "storageClass.create needs controller.enabled: dynamic provisioning is done by the controller (csi-provisioner)" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled (not (and .Values.metrics.enabled .Values.metrics.service.enabled)) }}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled and metrics.service.enabled (it scrapes the Service)" }}
{{- end }}
{{- if and .Values.metrics.podMonitor.enabled (not .Values.metrics.enabled) }}
{{- fail "metrics.podMonitor.enabled needs metrics.enabled" }}
{{- end }}
{{- if and .Values.metrics.serviceMonitor.enabled .Values.metrics.podMonitor.enabled }}
{{- fail "metrics.serviceMonitor.enabled and metrics.podMonitor.enabled: choose one, each would scrape every node" }}
{{- end }}
{{- $ports := list (int .Values.metrics.port) (int .Values.node.livenessProbe.healthPort) (int .Values.node.registrar.healthPort) }}
{{- if ne (len ($ports | uniq)) 3 }}
{{- fail (printf "metrics.port, node.livenessProbe.healthPort and node.registrar.healthPort must differ (all in one pod): %v" $ports) }}
{{- end }}
{{- end }}
