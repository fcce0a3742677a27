#!/usr/bin/env bash
# A Docker engine of its own for kind on this kind of machine, beside the one the image build
# and the real-node tests use: scripts/docker-daemon.sh (the same flags: no firewall, routing or
# sysctl changes) with its own socket and state (/var/lib/clusteropt-kind) and capped-runc as
# its default runtime, so the privileged kind nodes start where the process tree lacks
# capabilities. Stopped by its recorded PID.
#
#   test/cluster/kind/engine.sh start   # idempotent; prints the DOCKER_HOST to use last
#   test/cluster/kind/engine.sh stop
set -euo pipefail
kind_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export DOCKER_HOST=unix:///run/clusteropt-kind-docker.sock CLUSTEROPT_DOCKERD_NAME=clusteropt-kind
export CLUSTEROPT_DOCKERD_ARGS="--host $DOCKER_HOST --data-root /var/lib/clusteropt-kind/docker
  --exec-root /run/clusteropt-kind-docker --add-runtime capped-runc=$kind_dir/capped-runc
  --default-runtime capped-runc"
bash "$kind_dir/../../../scripts/docker-daemon.sh" "${1:-}" >&2
[ "${1:-}" != start ] || echo "$DOCKER_HOST"
