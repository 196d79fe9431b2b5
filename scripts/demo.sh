#!/usr/bin/env bash
# The main job on the lab: bring it up, put a Linux bridge on node01's eth1 with real nmstate
# over SSH, reach it from node02, and leave the lab running for you.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=$("$repo/scripts/bootstrap.sh" | tail -n 1)
labctl=("$venv/bin/python" "$repo/tests/lab/labctl")
nm=none
[[ -x /usr/sbin/NetworkManager ]] && nm=node02
"${labctl[@]}" up --nodes 3 --nm "$nm" >/dev/null
state=${NODENET_LAB_STATE:-/var/lib/nodenet-lab}
ssh_node() {
    ssh -i "$state/keys/id_ed25519" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR "root@$1" "${@:2}"
}
step() { printf '\n### %s\n' "$*"; }

step "Nodes registered with the lab's Kubernetes API server"
KUBECONFIG=$state/kubeconfig kubectl get nodes -o wide

step "node01: nmstatectl apply (kernel-only mode) of a bridge br1 over eth1"
ssh_node 10.231.77.11 nmstatectl apply --kernel <<'YAML'
interfaces:
  - name: br1
    type: linux-bridge
    state: up
    bridge:
      options: {stp: {enabled: false}}
      port: [{name: eth1}]
    ipv4:
      enabled: true
      address: [{ip: 10.231.78.11, prefix-length: 24}]
YAML

step "node01: nmstatectl show br1"
ssh_node 10.231.77.11 nmstatectl show --kernel br1

step "node03 reaches br1 over the data link"
ssh_node 10.231.77.13 'ip addr replace 10.231.78.13/24 dev eth1 && ping -c 3 10.231.78.11'

cat <<EOF

The lab is still running. Use it with:   . $state/env.sh
Remove the bridge:  echo '{interfaces: [{name: br1, type: linux-bridge, state: absent}]}' | ssh ... nmstatectl apply --kernel
Tear it all down:   ${labctl[*]} down
EOF
