#!/usr/bin/env bash
# Starts or stops a Docker engine for the image build and the real-node tests, on machines
# without systemd (CI, the project machine). Only a dockerd this script started is stopped,
# by its recorded PID; an engine that already answers is used as it is and left alone.
#
#   bash scripts/docker-daemon.sh start   # idempotent; waits until `docker info` answers
#   bash scripts/docker-daemon.sh stop
#
# The engine touches no firewall, routing or sysctl: --iptables=false, --ip-forward=false and
# --bridge=none (no docker0, no masquerade). Builds and runs use the host network
# (`--network host`), so a build reaches the npm registry exactly as the host does and no
# packet is ever forwarded for a container.
#
# A second engine beside it (test/cluster/kind/engine.sh): DOCKER_HOST names its socket,
# CLUSTEROPT_DOCKERD_NAME its pid and log files (default clusteropt), CLUSTEROPT_DOCKERD_ARGS
# adds dockerd flags (--host, --data-root, --exec-root, ...).
set -euo pipefail
name=${CLUSTEROPT_DOCKERD_NAME:-clusteropt}
pidfile=/run/$name-dockerd.pid
log=${CLUSTEROPT_DOCKERD_LOG:-/var/log/$name-dockerd.log}
read -r -d "" -a extra_args <<<"${CLUSTEROPT_DOCKERD_ARGS:-}" || true
docker_cli() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker; fi; }

ours_alive() { [ -f "$pidfile" ] && [ -d "/proc/$(cat "$pidfile")" ] && grep -q dockerd "/proc/$(cat "$pidfile")/cmdline"; }

case "${1:-}" in
start)
  if "$(docker_cli)" info >/dev/null 2>&1; then echo "docker: engine already running"; exit 0; fi
  command -v dockerd >/dev/null || { echo "docker: dockerd missing (apt-get install docker.io)" >&2; exit 1; }
  nohup dockerd --iptables=false --ip6tables=false --ip-forward=false --bridge=none \
    --pidfile "/run/$name-docker.pid" "${extra_args[@]}" >>"$log" 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 150); do
    "$(docker_cli)" info >/dev/null 2>&1 && { echo "docker: dockerd started (pid $(cat "$pidfile"))"; exit 0; }
    ours_alive || break
    sleep 0.2
  done
  echo "docker: dockerd did not come up; last lines of $log:" >&2; tail -20 "$log" >&2; exit 1
  ;;
stop)
  if ! ours_alive; then rm -f "$pidfile"; exit 0; fi
  pid=$(cat "$pidfile")
  kill "$pid"
  for _ in $(seq 150); do [ -d "/proc/$pid" ] || break; sleep 0.2; done
  [ -d "/proc/$pid" ] && kill -9 "$pid"
  rm -f "$pidfile"
  echo "docker: dockerd stopped"
  ;;
*) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
