#!/usr/bin/env bash
# `npm run test:kind`: scripts/kind-e2e.sh on a machine that reaches no image registry (the
# project machine, its CI), then a check that nothing a kind pod sends leaves the machine.
#   1. cluster binaries incl. kind (test/cluster/build-binaries.sh), the agent image
#      (scripts/image/build.sh) on the usual Docker engine;
#   2. the kind engine (engine.sh) and, in it, the node image (node-image.sh) and the agent image;
#   3. a Docker network without masquerade; scripts/kind-e2e.sh with the local node image and
#      cluster.yaml;
#   4. a pod connects to 203.0.113.7:443: it must fail, its packets must reach the node's eth0
#      and stop there (egress guard): tcpdump sees none on the network's bridge nor the uplink;
#   5. the cluster, the network and the kind engine are removed (KEEP=1 leaves them).
# Needs root, dockerd, mmdebstrap, gcc + libc6-dev, jq, tcpdump, Go (scripts/toolchain.sh).
set -euo pipefail
kind_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$kind_dir/../../.." && pwd)"
cluster=${KIND_CLUSTER_NAME:-clusteropt-e2e}
network=clusteropt-kind # also the name of its bridge on the host
image=clusteropt-agent:kind
probe_ip=203.0.113.7 # TEST-NET-3: never routed
t0=$SECONDS
step() { echo "=== [kind +$((SECONDS - t0))s] $*" >&2; }
for tool in dockerd mmdebstrap gcc jq tcpdump go; do
  command -v "$tool" >/dev/null || { echo "test:kind: $tool is required" >&2; exit 2; }
done

step "cluster binaries (kind, kubectl, helm)"
PATH="$(CLUSTEROPT_BUILD_KIND=1 bash "$root/test/cluster/build-binaries.sh" | tail -1):$PATH"
export PATH

step "agent image $image"
started_engine=0
docker info >/dev/null 2>&1 || { bash "$root/scripts/docker-daemon.sh" start && started_engine=1; }
trap '[ "$started_engine" = 0 ] || bash "$root/scripts/docker-daemon.sh" stop' EXIT
mkdir -p "$root/.state/kind"
# The build's own output goes to a file (its default, /dev/stderr, would truncate a log file).
IMAGE=$image CLUSTEROPT_IMAGE_LOG="$root/.state/kind/image-build.log" bash "$root/scripts/image/build.sh"

step "kind engine"
kind_host=$(bash "$kind_dir/engine.sh" start | tail -1)
uplink=$(ip route show default | awk '{ print $5; exit }')
tcpdump_pids=()
cleanup() {
  local status=$?
  [ ${#tcpdump_pids[@]} = 0 ] || kill "${tcpdump_pids[@]}" 2>/dev/null || true
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
node_image=$(DOCKER_HOST=$kind_host CLUSTEROPT_KIND_PRUNE=1 bash "$kind_dir/node-image.sh" | tail -1)
step "agent image into the kind engine"
previous=$(DOCKER_HOST=$kind_host docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
docker save "$image" | DOCKER_HOST=$kind_host docker load >/dev/null
[ "$previous" = "$(DOCKER_HOST=$kind_host docker image inspect --format '{{.Id}}' "$image")" ] ||
  [ -z "$previous" ] || DOCKER_HOST=$kind_host docker rmi "$previous" >/dev/null 2>&1 || true

export DOCKER_HOST=$kind_host
# --iptables=false already means no masquerade; the option says so where the engine differs.
docker network inspect "$network" >/dev/null 2>&1 ||
  docker network create -o com.docker.network.bridge.enable_ip_masquerade=false \
    -o com.docker.network.bridge.name="$network" "$network" >/dev/null
export KIND_EXPERIMENTAL_DOCKER_NETWORK=$network
export KUBECONFIG="$root/.state/kind/kubeconfig"

step "scripts/kind-e2e.sh"
KEEP=1 IMAGE=$image BUILD_IMAGE=0 KIND_NODE_IMAGE=$node_image KIND_CONFIG="$kind_dir/cluster.yaml" \
  KIND_CLUSTER_NAME=$cluster bash "$root/scripts/kind-e2e.sh"

step "egress: a pod connects to $probe_ip:443; tcpdump on $uplink and on the bridge $network"
k() { kubectl --context "kind-$cluster" "$@"; }
node="$cluster-control-plane"
k uncordon "$node" >/dev/null # kind-e2e.sh cordoned the only node
# A rule without a target only counts: what reaches the node's eth0 for the probe address,
# just ahead of the egress guard's DROP.
count_rule=(POSTROUTING -o eth0 -d "$probe_ip")
docker exec "$node" iptables -w -t mangle -I "${count_rule[@]}"
pcap_dir=$(mktemp -d "${TMPDIR:-/tmp}/kind-egress.XXXXXX")
for dev in "$uplink" "$network"; do
  tcpdump -n -i "$dev" -w "$pcap_dir/$dev.pcap" "host $probe_ip" 2>/dev/null &
  tcpdump_pids+=($!)
done
sleep 1
k run egress-probe --image=clusteropt.local/busybox:bookworm --image-pull-policy=Never \
  --restart=Never --command -- sh -c "nc -w 5 $probe_ip 443 </dev/null; echo nc exit \$?" >/dev/null
k wait --for=jsonpath='{.status.phase}'=Succeeded pod/egress-probe --timeout=60s >/dev/null
out=$(k logs egress-probe 2>&1 | tr '\n' ' ')
k delete pod egress-probe --wait=false >/dev/null
reached=$(docker exec "$node" iptables -w -t mangle -L POSTROUTING 1 -v -n -x | awk '{ print $1 }')
docker exec "$node" iptables -w -t mangle -D "${count_rule[@]}"
sleep 1
kill "${tcpdump_pids[@]}"
wait "${tcpdump_pids[@]}" 2>/dev/null || true
tcpdump_pids=()
seen_uplink=$(tcpdump -n -r "$pcap_dir/$uplink.pcap" 2>/dev/null | wc -l)
seen_bridge=$(tcpdump -n -r "$pcap_dir/$network.pcap" 2>/dev/null | wc -l)
rm -rf "$pcap_dir"
echo "probe: ${out}; packets for $probe_ip: $reached at the node's eth0 (dropped there)," \
  "$seen_bridge on the bridge $network, $seen_uplink on $uplink" >&2
case "$out" in
*"nc exit 0"*) echo "FAILED: a pod connected to $probe_ip:443" >&2; exit 1 ;;
*"nc exit "[1-9]*) ;;
*) echo "FAILED: the probe pod did not report" >&2; exit 1 ;;
esac
[ "$reached" -gt 0 ] || { echo "FAILED: no probe packet reached the node's eth0" >&2; exit 1; }
[ "$seen_bridge" = 0 ] || { echo "FAILED: the node let $seen_bridge packet(s) out (egress guard)" >&2; exit 1; }
[ "$seen_uplink" = 0 ] || { echo "FAILED: $seen_uplink packet(s) for $probe_ip left through $uplink" >&2; exit 1; }
step "PASSED: kind e2e, and no packet left the machine"
