#!/usr/bin/env bash
# Install the operator's namespace, ServiceAccount and least-privilege RBAC, and write a
# kubeconfig that acts as that ServiceAccount (a token from the TokenRequest API). The lab's
# operator runs with it, so the RBAC in operator/manifests/deploy is what gets exercised.
#   scripts/operator-kubeconfig.sh ADMIN_KUBECONFIG OUT_KUBECONFIG [DURATION]
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
admin=${1:?usage: operator-kubeconfig.sh ADMIN_KUBECONFIG OUT_KUBECONFIG [DURATION]}
out=${2:?usage: operator-kubeconfig.sh ADMIN_KUBECONFIG OUT_KUBECONFIG [DURATION]}
duration=${3:-24h}
k() { kubectl --kubeconfig "$admin" "$@"; }
k apply -f "$repo/operator/manifests/deploy/namespace.yaml" -f "$repo/operator/manifests/deploy/rbac.yaml" >/dev/null
token=$(k -n nmstate create token nmstate-operator --duration "$duration")
server=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
ca=$(k config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
umask 077
cat >"$out" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: lab
    cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
  - name: nmstate-operator
    user: {token: "$token"}
contexts:
  - name: nmstate-operator
    context: {cluster: lab, user: nmstate-operator}
current-context: nmstate-operator
EOF
