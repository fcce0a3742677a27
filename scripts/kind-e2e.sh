#!/usr/bin/env bash
# End-to-end test of the image and the Helm chart on a kind cluster (needs Docker, kind,
# kubectl and helm on PATH). Machines without an image registry: test/cluster/kind/run-local.sh
# (npm run test:kind) builds everything locally and runs this script.
#   1. kind create cluster (KIND_NODE_IMAGE / KIND_CONFIG when set)
#   2. build the image (scripts/image/build.sh), kind load docker-image
#   3. run the reference control plane in the cluster (same image, `control-plane serve`)
#      and create a cluster + API key with its CLI (kubectl exec)
#   4. helm install the chart (2 replicas, StatefulSet with PVCs on kind's local-path
#      StorageClass) into a namespace enforcing Pod Security "restricted"
#   5. allow control-plane nodes (AgentPolicy), enqueue cordon_node for a node, wait until the
#      control plane reports it succeeded, and check the node is unschedulable and the
#      AgentAction Succeeded
#   6. delete the kind cluster (KEEP=1 leaves it for inspection)
#
# Usage: scripts/kind-e2e.sh
# Environment: KIND_CLUSTER_NAME (default clusteropt-e2e), IMAGE (default clusteropt-agent:e2e),
#              BUILD_IMAGE=0 (IMAGE is already in the engine: do not build it),
#              KIND_NODE_IMAGE (kind's --image; default: kind's own node image),
#              KIND_CONFIG (kind's --config), KEEP=1 (keep the cluster),
#              TIMEOUT (seconds per wait, default 180).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cluster="${KIND_CLUSTER_NAME:-clusteropt-e2e}"
image="${IMAGE:-clusteropt-agent:e2e}"
timeout="${TIMEOUT:-180}"
agent_ns=clusteropt-system
cp_ns=clusteropt-cp
context="kind-${cluster}"

log() { printf '[kind-e2e %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
fail() {
  log "FAILED: $*"
  exit 1
}

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null 2>&1 || {
    log "$tool is required on PATH"
    exit 2
  }
done

k() { kubectl --context "$context" "$@"; }

cleanup() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    log "diagnostics:"
    k -n "$agent_ns" get pods,events -o wide >&2 || true
    k -n "$agent_ns" logs -l app.kubernetes.io/name=clusteropt-agent --tail=50 --prefix >&2 || true
  fi
  if [ "${KEEP:-0}" = 1 ]; then
    log "KEEP=1: cluster ${cluster} left running (kubectl --context ${context} ...)"
  else
    log "deleting kind cluster ${cluster}"
    kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  fi
  exit "$status"
}
trap cleanup EXIT

log "creating kind cluster ${cluster}"
create=(kind create cluster --name "$cluster" --wait "${timeout}s")
[ -z "${KIND_NODE_IMAGE:-}" ] || create+=(--image "$KIND_NODE_IMAGE")
[ -z "${KIND_CONFIG:-}" ] || create+=(--config "$KIND_CONFIG")
"${create[@]}"

if [ "${BUILD_IMAGE:-1}" != 0 ]; then
  log "building ${image}"
  IMAGE="$image" bash "$root/scripts/image/build.sh"
fi
kind load docker-image "$image" --name "$cluster"
image_repo="${image%:*}"
image_tag="${image##*:}"

log "starting the reference control plane in namespace ${cp_ns}"
k create namespace "$cp_ns"
k apply -f - <<EOF
apiVersion: apps/v1
kind: Deployment
metadata:
  name: control-plane
  namespace: ${cp_ns}
spec:
  replicas: 1
  selector:
    matchLabels: { app: control-plane }
  template:
    metadata:
      labels: { app: control-plane }
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        fsGroup: 65532
        seccompProfile: { type: RuntimeDefault }
      containers:
        - name: control-plane
          image: ${image}
          imagePullPolicy: Never
          args: ["control-plane", "serve", "--db", "/data/cp.db", "--listen", "0.0.0.0:8081"]
          ports: [{ containerPort: 8081 }]
          readinessProbe:
            httpGet: { path: /healthz, port: 8081 }
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: { drop: ["ALL"] }
          volumeMounts: [{ name: data, mountPath: /data }]
      volumes: [{ name: data, emptyDir: {} }]
---
apiVersion: v1
kind: Service
metadata:
  name: control-plane
  namespace: ${cp_ns}
spec:
  selector: { app: control-plane }
  ports: [{ port: 8081, targetPort: 8081 }]
EOF
k -n "$cp_ns" rollout status deployment/control-plane --timeout="${timeout}s"
cp_pod="$(k -n "$cp_ns" get pod -l app=control-plane -o jsonpath='{.items[0].metadata.name}')"
# The image has no shell: exec its entrypoint (node and the CLI, as the image names them).
# The CLI works on the database file directly.
entrypoint=()
while IFS= read -r arg; do [ -z "$arg" ] || entrypoint+=("$arg"); done < <(
  docker image inspect "$image" --format '{{range .Config.Entrypoint}}{{println .}}{{end}}')
[ ${#entrypoint[@]} -gt 0 ] || fail "image ${image} has no entrypoint"
cp_cli() { k -n "$cp_ns" exec "$cp_pod" -- "${entrypoint[@]}" control-plane "$@" --db /data/cp.db; }

created="$(cp_cli create-cluster kind-e2e)"
cluster_id="$(printf '%s\n' "$created" | sed -n 's/^cluster_id=//p')"
api_key="$(printf '%s\n' "$created" | sed -n 's/^api_key=//p')"
if [ -z "$cluster_id" ] || [ -z "$api_key" ]; then fail "create-cluster printed no cluster_id/api_key"; fi
log "control-plane cluster ${cluster_id}"

log "installing the chart into ${agent_ns} (Pod Security: restricted)"
k create namespace "$agent_ns"
k label namespace "$agent_ns" pod-security.kubernetes.io/enforce=restricted
k -n "$agent_ns" create secret generic clusteropt-agent-api-key --from-literal=api-key="$api_key"
helm --kube-context "$context" install clusteropt-agent "$root/helm/clusteropt-agent" \
  --namespace "$agent_ns" \
  --set image.repository="$image_repo" \
  --set image.tag="$image_tag" \
  --set image.pullPolicy=Never \
  --set apiKey.existingSecret=clusteropt-agent-api-key \
  --set controlPlane.url="http://control-plane.${cp_ns}.svc:8081" \
  --set config.allowInsecureHttp=true \
  --wait --timeout "${timeout}s"

log "waiting for a leader"
for _ in $(seq "$timeout"); do
  holder="$(k -n "$agent_ns" get lease clusteropt-agent -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true)"
  [ -n "$holder" ] && break
  sleep 1
done
[ -n "${holder:-}" ] || fail "no replica took the Lease"
log "leader: ${holder}"

node="$(k get nodes -o jsonpath='{.items[0].metadata.name}')"
# kind's one node is a control-plane node, which the agent's built-in defaults protect: an
# AgentPolicy that widens just that lets the cordon through (docs/policy.md).
k apply -f - <<EOF
apiVersion: clusteropt.io/v1alpha1
kind: AgentPolicy
metadata:
  name: kind-e2e
spec:
  protectControlPlaneNodes: false
EOF
action_id="$(cp_cli enqueue --cluster "$cluster_id" --type cordon_node --payload "{\"nodeName\":\"${node}\"}" --expires-in 600)"
log "enqueued cordon_node ${node}: ${action_id}"

state=""
for _ in $(seq "$timeout"); do
  # `actions` prints ID, TYPE, STATE, DELIVERED, MESSAGE per line.
  state="$(cp_cli actions --cluster "$cluster_id" | awk -v id="$action_id" '$1 == id { print $3 }')"
  case "$state" in
    succeeded) break ;;
    failed | rejected | expired) fail "cordon_node ended ${state}: $(cp_cli actions --cluster "$cluster_id")" ;;
  esac
  sleep 1
done
[ "$state" = succeeded ] || fail "cordon_node not succeeded after ${timeout}s (state: ${state:-unknown})"

[ "$(k get node "$node" -o jsonpath='{.spec.unschedulable}')" = true ] || fail "node ${node} is not cordoned"
phase="$(k -n "$agent_ns" get agentaction "act-${action_id}" -o jsonpath='{.status.phase}')"
[ "$phase" = Succeeded ] || fail "AgentAction act-${action_id} is ${phase}"
k -n "$agent_ns" get agentactions -o wide
log "PASSED: node ${node} cordoned, control plane and AgentAction report success"
