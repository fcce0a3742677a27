#!/usr/bin/env bash
# Shared by build-binaries.sh and kind/node-image.sh (sourced, not run): builds one binary from
# a wrapper module under go/ into the binary cache, and reads the versions those modules pin.
# Needs $here (this folder) and $cache (the binary cache) set by the caller.
# shellcheck disable=SC2154 # $here comes from the caller
export CGO_ENABLED=0 GOFLAGS="${GOFLAGS:--buildvcs=false} -trimpath"

modver() { # module version as required by a wrapper go.mod
  (cd "$here/go/$1" && go list -m -f '{{.Version}}' "$2")
}
build() { # <wrapper> <out-dir> <binary> <package> [ldflags] [build tags]
  local wrapper=$1 out=$2 bin=$3 pkg=$4 ldflags=${5:-} tags=${6:-}
  if [ -x "$out/$bin" ]; then return 0; fi
  mkdir -p "$out"
  echo "building $bin ($pkg) into $out" >&2
  local t0=$SECONDS
  (cd "$here/go/$wrapper" && go build -tags "$tags" -ldflags "-s -w $ldflags" -o "$out/$bin.tmp" "$pkg")
  mv "$out/$bin.tmp" "$out/$bin"
  echo "built $bin in $((SECONDS - t0))s" >&2
}
k8s_ldflags() { # <k8s version>: the version the Kubernetes binaries report
  local vpkg=k8s.io/component-base/version minor
  minor=$(echo "$1" | cut -d. -f2)
  echo "-X $vpkg.gitVersion=$1 -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$minor -X $vpkg.gitTreeState=clean -X $vpkg.buildDate=1970-01-01T00:00:00Z"
}
