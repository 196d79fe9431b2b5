#!/usr/bin/env bash
# The main job on the lab: the control plane and 3 nodes, the operator running against them,
# and the examples in docs/examples applied through it. Leaves everything running.
# The operator runs in-cluster as users install it (its image, operator/manifests/deploy/ on the
# lab's infra node kubelet) when the lab can run a kubelet; else as a local process with the
# same ServiceAccount and RBAC, and the demo says which.
#   scripts/demo.sh        bring it up and run the examples
#   scripts/demo.sh down   stop the operator and take the lab down
#   scripts/demo.sh stop-operator
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$repo/scripts/bootstrap.sh" | tail -n 1)
export PATH="$venv/bin:$PATH"
labctl=(python "$repo/tests/lab/labctl")
state=${NODENET_LAB_STATE:-/var/lib/nodenet-lab}
work=$state/operator
pidfile=$work/operator.pid

stop_operator() {
    if [[ -f $pidfile ]] && pid=$(cat "$pidfile") && grep -q nmstate_operator "/proc/$pid/cmdline" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    fi
    rm -f "$pidfile"
}

case ${1:-} in
    down) stop_operator; "${labctl[@]}" uninstall-operator >/dev/null 2>&1 || true
        "${labctl[@]}" down; exit 0 ;;
    stop-operator) stop_operator; exit 0 ;;
esac

step() { printf '\n### %s\n' "$*"; }

start_operator_process() {
    step "Operator as a local process: CRDs, RBAC, peering object; python -m nmstate_operator"
    kubectl apply -f "$repo/operator/manifests/crds/" >/dev/null
    kubectl wait --for condition=Established crd --all --timeout=60s >/dev/null
    mkdir -p "$work"
    "$repo/scripts/operator-kubeconfig.sh" "$KUBECONFIG" "$work/kubeconfig" 24h
    kubectl apply -f "$repo/operator/manifests/deploy/peering.yaml" >/dev/null
    collection=$("$repo/scripts/collection-tree.sh" "$work/collections")
    collections_path=${collection%/ansible_collections/*}
    KUBECONFIG=$work/kubeconfig PYTHONPATH=$repo/operator:$collections_path \
        NMSTATE_OPERATOR_COLLECTIONS_PATH=$collections_path \
        NMSTATE_OPERATOR_SSH_PRIVATE_KEY=$state/keys/id_ed25519 \
        NMSTATE_OPERATOR_KNOWN_HOSTS=$state/known_hosts \
        NMSTATE_OPERATOR_RUNNER_DIR=$work/runner \
        NMSTATE_OPERATOR_PEERING=nmstate-operator \
        NMSTATE_OPERATOR_REPORT_INTERVAL=15 \
        NMSTATE_OPERATOR_LIVENESS=http://127.0.0.1:18080/healthz \
        NMSTATE_OPERATOR_METRICS_BIND_ADDRESS=127.0.0.1:18089 \
        NMSTATE_OPERATOR_PROBE_TIMEOUT=10 NMSTATE_OPERATOR_ROLLBACK_TIMEOUT=40 \
        setsid python -m nmstate_operator >"$work/operator.log" 2>&1 </dev/null &
    echo $! >"$pidfile"
    for _ in $(seq 60); do curl -fs http://127.0.0.1:18080/healthz >/dev/null && break; sleep 1; done
    echo "operator running (PID $(cat "$pidfile")), log: $work/operator.log"
}
show() {
    printf '\n$ kubectl get nncp,nnce,nns\n'
    kubectl get nncp,nnce,nns
}

nm=none
[[ -x /usr/sbin/NetworkManager ]] && nm=node02
step "Lab: Kubernetes control plane, 3 nodes (NetworkManager on: $nm) and an infra node"
in_cluster=yes
if ! "${labctl[@]}" up --nodes 3 --nm "$nm" --kubelet >/dev/null; then
    echo "the lab cannot run a kubelet here (its error is above): the operator runs as a process"
    in_cluster=no
    "${labctl[@]}" up --nodes 3 --nm "$nm" >/dev/null
fi
export KUBECONFIG=$state/kubeconfig
kubectl get nodes -o wide

stop_operator
if [[ $in_cluster == yes ]]; then
    step "Operator in-cluster: its image on infra01, kubectl apply -f operator/manifests/{crds,deploy}/"
    "${labctl[@]}" install-operator >/dev/null
    echo "the operator runs in-cluster: the Deployment's pods on the infra node's kubelet"
    kubectl -n nmstate get deployment,pods -o wide
    # Services answer inside the cluster's network: the infra node's.
    service_ip=$(kubectl -n nmstate get service nmstate-operator-metrics -o jsonpath='{.spec.clusterIP}')
    metrics="ip netns exec nnlab-infra01 curl -s $service_ip:8089/metrics"
    logs="kubectl -n nmstate logs deployment/nmstate-operator"
else
    start_operator_process
    metrics="curl -s 127.0.0.1:18089/metrics"
    logs="cat $work/operator.log"
fi

step "Guide 'report node network state': every Node gets a NodeNetworkState"
for _ in $(seq 60); do
    [[ -n $(kubectl get nns node01 -o jsonpath='{.status.currentState}' 2>/dev/null) ]] && break
    sleep 1
done
show
echo; echo '$ kubectl get nns node01 -o yaml | head -30'
kubectl get nns node01 -o yaml | head -30

step "Guide 'connect a Linux bridge': patch create-br1-linux-bridge.yaml onto node01's NNS"
kubectl patch nns node01 --type merge -p "$(cat "$repo/docs/examples/create-br1-linux-bridge.yaml")"
generation=$(kubectl get nns node01 -o jsonpath='{.metadata.generation}')
for _ in $(seq 180); do
    result=$(kubectl get nns node01 -o jsonpath="{.status.lastApply.generation}/{.status.lastApply.result}")
    [[ $result == "$generation/applied" || $result == "$generation/failed" ]] && break
    sleep 1
done
kubectl get nns node01
echo "node01 br1: $(ssh -i "$state/keys/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR root@10.231.77.11 ip -br addr show br1)"

step "Policies in docs/examples/policies: one node at a time (maxUnavailable 1)"
kubectl apply -f "$repo/docs/examples/policies/"
for policy in $(kubectl get nncp -o name); do
    until kubectl wait "$policy" --for condition=Available --timeout=5s >/dev/null 2>&1; do
        show
        degraded=$(kubectl get "$policy" -o jsonpath='{.status.conditions[?(@.type=="Degraded")].status}')
        [[ $degraded == True ]] && break
        sleep 5
    done
done
show
echo; echo '$ kubectl get nncp -o wide'
kubectl get nncp -o custom-columns='NAME:.metadata.name,AVAILABLE:.status.conditions[?(@.type=="Available")].status,MESSAGE:.status.conditions[?(@.type=="Available")].message'

cat <<EOF

The lab and the operator are still running:
  . $state/env.sh                   # KUBECONFIG and the Ansible inventory for the lab
  kubectl get nncp,nnce,nns         # the objects above
  $metrics   # the operator's metrics
  $logs   # its log
Tear it all down:  make demo-down   (or: $repo/scripts/demo.sh down)
EOF
