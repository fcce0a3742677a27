#!/usr/bin/env bash
# `npm run image`: builds the agent image from ./Dockerfile with BuildKit.
#
# Bases: the Dockerfile's defaults (node:24 bookworm-slim, distroless nodejs24) when they are
# present or can be pulled; otherwise (no registry reachable, as on the project machine) the
# local stand-ins made by scripts/image/local-bases.sh. NODE_IMAGE / RUNTIME_IMAGE override.
# The host's CA bundle (CLUSTEROPT_BUILD_CA, default the system bundle) goes to `npm ci` as
# the build secret npm_ca, only at build time. Tags: $IMAGE (default clusteropt-agent:local)
# and clusteropt-agent:<package version>. Needs a running Docker engine
# (`bash scripts/docker-daemon.sh start` where there is no systemd).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
image=${IMAGE:-clusteropt-agent:local}
version=$(node -p "require('./package.json').version")
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain 2>/dev/null)" ] || revision="$revision-dirty"
t0=$SECONDS
log() { echo "[image +$((SECONDS - t0))s] $*" >&2; }
dockerfile_default() { sed -n "s/^ARG $1=//p" Dockerfile | head -1; }

# shellcheck source=SCRIPTDIR/buildkit.sh
source "$root/scripts/image/buildkit.sh"
docker info >/dev/null 2>&1 || { echo "image: no Docker engine answers (bash scripts/docker-daemon.sh start)" >&2; exit 1; }

base_available() { docker image inspect "$1" >/dev/null 2>&1 || docker pull -q "$1" >/dev/null 2>&1; }
node_image=${NODE_IMAGE:-$(dockerfile_default NODE_IMAGE)}
runtime_image=${RUNTIME_IMAGE:-$(dockerfile_default RUNTIME_IMAGE)}
if [ -z "${NODE_IMAGE:-}${RUNTIME_IMAGE:-}" ] && ! { base_available "$node_image" && base_available "$runtime_image"; }; then
  log "the official bases cannot be pulled: making local ones (scripts/image/local-bases.sh)"
  bash "$root/scripts/image/local-bases.sh"
  node_image=local/node:24-bookworm runtime_image=local/nodejs24-runtime
fi

ca=${CLUSTEROPT_BUILD_CA:-/etc/ssl/certs/ca-certificates.crt}
secret=()
[ -s "$ca" ] && secret=(--secret "id=npm_ca,src=$ca")
log "building $image ($version, $revision) on $node_image + $runtime_image"
buildkit_build --network host --progress plain "${secret[@]}" \
  --build-arg "NODE_IMAGE=$node_image" --build-arg "RUNTIME_IMAGE=$runtime_image" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
  -t "$image" -t "clusteropt-agent:$version" . >"${CLUSTEROPT_IMAGE_LOG:-/dev/stderr}" 2>&1
size=$(docker image inspect "$image" --format '{{.Size}}')
log "built $image: $((size / 1024 / 1024)) MiB in $((SECONDS - t0)) s"
docker run --rm --network none "$image" --version
