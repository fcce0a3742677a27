#!/usr/bin/env bash
# One command on a fresh machine: Node 24 (if the machine's is older), dependencies, the
# test cluster's binaries (first time only, ~20 min on 2 cores), then the demo: a local
# cluster, the reference control plane and the agent; cordon, drain and scale shown live.
# Arguments go to scripts/demo.ts (--keep, --down, --kubeconfig FILE).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/toolchain.sh
[ -d node_modules/better-sqlite3 ] || npm ci --no-audit --no-fund --loglevel=error
exec node scripts/demo.ts "$@"
