#!/usr/bin/env bash
# A Docker engine of its own for kind on this kind of machine, beside the one the image build
# and the real-node tests use (scripts/docker-daemon.sh): its default runtime is capped-runc,
# so the privileged kind nodes start where the process tree lacks capabilities, and it touches
# no firewall, routing or sysctl (--iptables=false, --ip-forward=false, --bridge=none).
# State under /var/lib/clusteropt-kind and /run/clusteropt-kind; stopped by its recorded PID.
#
#   test/cluster/kind/engine.sh start   # idempotent; prints the DOCKER_HOST to use
#   test/cluster/kind/engine.sh stop
set -euo pipefail
kind_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
run=/run/clusteropt-kind
sock="unix://$run/docker.sock"
pidfile=$run/dockerd.pid
log=${CLUSTEROPT_KIND_DOCKERD_LOG:-/var/log/clusteropt-kind-dockerd.log}
alive() { [ -f "$pidfile" ] && [ -d "/proc/$(cat "$pidfile")" ] && grep -q dockerd "/proc/$(cat "$pidfile")/cmdline"; }
answers() { DOCKER_HOST=$sock docker info >/dev/null 2>&1; }

case "${1:-}" in
start)
  if alive && answers; then echo "$sock"; exit 0; fi
  command -v dockerd >/dev/null || { echo "kind engine: dockerd missing (apt-get install docker.io)" >&2; exit 1; }
  mkdir -p "$run"
  nohup dockerd --host "$sock" --data-root /var/lib/clusteropt-kind/docker --exec-root "$run/docker" \
    --pidfile "$run/docker.pid" --iptables=false --ip6tables=false --ip-forward=false --bridge=none \
    --add-runtime "capped-runc=$kind_dir/capped-runc" --default-runtime capped-runc >>"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 150); do
    answers && { echo "kind engine: dockerd started (pid $(cat "$pidfile"))" >&2; echo "$sock"; exit 0; }
    alive || break
    sleep 0.2
  done
  echo "kind engine: dockerd did not come up; last lines of $log:" >&2; tail -20 "$log" >&2; exit 1
  ;;
stop)
  if ! alive; then rm -f "$pidfile"; exit 0; fi
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 150); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
  [ -d "/proc/$pid" ] && kill -9 "$pid"
  rm -f "$pidfile"
  echo "kind engine: dockerd stopped" >&2
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
