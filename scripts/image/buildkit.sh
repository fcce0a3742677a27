#!/usr/bin/env bash
# Sourced by the image builds: defines buildkit_build ARGS..., a `docker build` that uses
# BuildKit: `docker buildx` where installed, else a Docker 20.10 client (Debian's docker.io at
# /usr/bin/docker), which still has the built-in BuildKit switch.
if docker buildx version >/dev/null 2>&1; then
  buildkit_build() { docker buildx build --load "$@"; }
elif [ -x /usr/bin/docker ] && /usr/bin/docker version --format '{{.Client.Version}}' 2>/dev/null | grep -q '^20\.'; then
  buildkit_build() { DOCKER_BUILDKIT=1 /usr/bin/docker build "$@"; }
else
  echo "BuildKit needed (install docker-buildx, or Docker 20.10)" >&2
  exit 1
fi
