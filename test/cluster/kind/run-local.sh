#!/usr/bin/env bash
# `npm run test:kind`: scripts/kind-e2e.sh on a machine that reaches no image registry (the
# project machine, its CI), then a check that nothing a kind pod sends leaves the machine.
#   1. cluster binaries incl. kind (test/cluster/build-binaries.sh), the agent image
#      (scripts/image/build.sh) on the usual Docker engine;
#   2. the kind engine (engine.sh) and, in it, the node image (node-image.sh) and the agent image;
#   3. a Docker network without masquerade; scripts/kind-e2e.sh with the local node image and
#      cluster.yaml;
#   4. a pod connects to 203.0.113.7:443: it must fail, no packet may show on the uplink
#      (tcpdump), and the node's egress guard must have dropped it;
#   5. the cluster, the network and the kind engine are removed (KEEP=1 leaves them).
# Needs root, dockerd, mmdebstrap, gcc + libc6-dev, jq, tcpdump, Go (scripts/toolchain.sh).
set -euo pipefail
kind_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$kind_dir/../../.." && pwd)"
cluster=${KIND_CLUSTER_NAME:-clusteropt-e2e}
network=clusteropt-kind
image=clusteropt-agent:kind
probe_ip=203.0.113.7 # TEST-NET-3: never routed
t0=$SECONDS
step() { echo "=== [kind +$((SECONDS - t0))s] $*" >&2; }
for tool in dockerd mmdebstrap gcc jq tcpdump go; do
  command -v "$tool" >/dev/null || { echo "test:kind: $tool is required" >&2; exit 2; }
done

step "cluster binaries (kind, kubectl, helm)"
PATH="$(bash "$root/test/cluster/build-binaries.sh" | tail -1):$PATH"
export PATH

step "agent image $image"
started_engine=0
docker info >/dev/null 2>&1 || { bash "$root/scripts/docker-daemon.sh" start && started_engine=1; }
trap '[ "$started_engine" = 0 ] || bash "$root/scripts/docker-daemon.sh" stop' EXIT
IMAGE=$image bash "$root/scripts/image/build.sh"

step "kind engine"
kind_host=$(bash "$kind_dir/engine.sh" start | tail -1)
uplink=$(ip route show default | awk '{ print $5; exit }')
tcpdump_pid=""
cleanup() {
  local status=$?
  [ -z "$tcpdump_pid" ] || kill "$tcpdump_pid" 2>/dev/null || true
  if [ "${KEEP:-0}" != 1 ]; then
    DOCKER_HOST=$kind_host kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
    DOCKER_HOST=$kind_host docker network rm "$network" >/dev/null 2>&1 || true
    bash "$kind_dir/engine.sh" stop || true
  fi
  [ "$started_engine" = 0 ] || bash "$root/scripts/docker-daemon.sh" stop || true
  step "done (exit $status)"
  exit "$status"
}
trap cleanup EXIT

step "node image"
node_image=$(DOCKER_HOST=$kind_host bash "$kind_dir/node-image.sh" | tail -1)
step "agent image into the kind engine"
docker save "$image" | DOCKER_HOST=$kind_host docker load >/dev/null

export DOCKER_HOST=$kind_host
# --iptables=false already means no masquerade; the option says so where the engine differs.
docker network inspect "$network" >/dev/null 2>&1 ||
  docker network create -o com.docker.network.bridge.enable_ip_masquerade=false "$network" >/dev/null
export KIND_EXPERIMENTAL_DOCKER_NETWORK=$network
export KUBECONFIG="$root/.state/kind/kubeconfig"
mkdir -p "$(dirname "$KUBECONFIG")"

step "scripts/kind-e2e.sh"
KEEP=1 IMAGE=$image BUILD_IMAGE=0 KIND_NODE_IMAGE=$node_image KIND_CONFIG="$kind_dir/cluster.yaml" \
  KIND_CLUSTER_NAME=$cluster bash "$root/scripts/kind-e2e.sh"

step "egress: a pod connects to $probe_ip:443 while tcpdump watches $uplink"
node="$cluster-control-plane"
guard_drops() { docker exec "$node" iptables -w -t mangle -L POSTROUTING -v -n -x | awk '$3 == "DROP" && $7 == "eth0" { s += $1 } END { print s + 0 }'; }
pcap=$(mktemp "${TMPDIR:-/tmp}/kind-egress.XXXXXX")
tcpdump -n -i "$uplink" -w "$pcap" "host $probe_ip" 2>/dev/null &
tcpdump_pid=$!
sleep 1
before=$(guard_drops)
out=$(kubectl --context "kind-$cluster" run egress-probe --image=clusteropt.local/busybox:bookworm \
  --image-pull-policy=Never --restart=Never --rm -i --quiet --command -- \
  busybox nc -w 5 "$probe_ip" 443 </dev/null 2>&1) && connected=1 || connected=0
after=$(guard_drops)
sleep 1
kill "$tcpdump_pid"
wait "$tcpdump_pid" 2>/dev/null || true
tcpdump_pid=""
seen=$(tcpdump -n -r "$pcap" 2>/dev/null | wc -l)
rm -f "$pcap"
echo "probe: ${out:-no output}; packets on $uplink: $seen; dropped by the node's egress guard: $((after - before))" >&2
[ "$connected" = 0 ] || { echo "FAILED: a pod connected to $probe_ip:443" >&2; exit 1; }
[ "$seen" = 0 ] || { echo "FAILED: $seen packet(s) for $probe_ip on $uplink" >&2; exit 1; }
[ "$((after - before))" -gt 0 ] || { echo "FAILED: the egress guard dropped nothing" >&2; exit 1; }
step "PASSED: kind e2e, and no packet left the machine"
