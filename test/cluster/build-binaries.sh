#!/usr/bin/env bash
# Builds the test cluster's binaries from the Go module proxy (no Docker, no downloads of
# prebuilt releases): kube-apiserver, kube-controller-manager, kube-scheduler, kubectl,
# kubelet and kube-proxy (the opt-in real node), etcd, kwok, helm, promtool (which unit-tests
# the chart's alert rules) and, with CLUSTEROPT_BUILD_KIND=1 (npm run test:kind), kind.
# Versions come from the wrapper modules under go/.
#
# Output: $CLUSTEROPT_BIN_CACHE/<component>-<version>/<binary> (default .cache/cluster-bin
# at the repository root, git-ignored). A binary already present is not rebuilt.
# Prints the folder holding links to all binaries (bin/current) on its last line.
# Set CLUSTEROPT_CLUSTER_BIN_DIR to a folder of prebuilt binaries to skip building.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${CLUSTEROPT_BIN_CACHE:-$root/.cache/cluster-bin}"

if [ -n "${CLUSTEROPT_CLUSTER_BIN_DIR:-}" ]; then
  for b in kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok helm promtool; do
    [ -x "$CLUSTEROPT_CLUSTER_BIN_DIR/$b" ] || { echo "CLUSTEROPT_CLUSTER_BIN_DIR lacks $b" >&2; exit 1; }
  done
  echo "$CLUSTEROPT_CLUSTER_BIN_DIR"; exit 0
fi

# shellcheck source=SCRIPTDIR/go-build.sh
source "$here/go-build.sh"

k8s=$(modver kubernetes k8s.io/kubernetes)
etcd=$(modver etcd go.etcd.io/etcd/server/v3)
kwok=$(modver kwok sigs.k8s.io/kwok)
helm=$(modver helm helm.sh/helm/v3)
kind=$(modver kind sigs.k8s.io/kind)
prom=$(modver prometheus github.com/prometheus/prometheus)
minor=$(echo "$k8s" | cut -d. -f2)
k8sld=$(k8s_ldflags "$k8s")
# kubectl reports its client version from client-go's copy of the version package.
kctlld="$k8sld -X k8s.io/client-go/pkg/version.gitVersion=$k8s -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  build kubernetes "$cache/kubernetes-$k8s" "$c" "k8s.io/kubernetes/cmd/$c" "$k8sld"
done
build kubernetes "$cache/kubernetes-$k8s" kubectl k8s.io/kubernetes/cmd/kubectl "$kctlld"
build etcd "$cache/etcd-$etcd" etcd go.etcd.io/etcd/server/v3 \
  "-X go.etcd.io/etcd/api/v3/version.GitSHA=$etcd"
kwokld="-X sigs.k8s.io/kwok/pkg/consts.Version=${kwok#v} -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=$k8s"
build kwok "$cache/kwok-$kwok" kwok sigs.k8s.io/kwok/cmd/kwok "$kwokld"
build helm "$cache/helm-$helm" helm helm.sh/helm/v3/cmd/helm \
  "-X helm.sh/helm/v3/internal/version.version=$helm"
# kind only for npm run test:kind: CI does not run it (docs/kind.md), so it does not build it.
[ "${CLUSTEROPT_BUILD_KIND:-0}" = 1 ] && build kind "$cache/kind-$kind" kind sigs.k8s.io/kind
# Prometheus 3.M.P is published as Go module v0.3MM.P; promtool reports the release version.
# remove_all_sd leaves out the service-discovery plugins (cloud SDKs) that rule tests never use:
# about half the compile time (229 vs 494 CPU-seconds from a cold Go cache).
promrel=$(echo "$prom" | sed -E 's/^v0\.([0-9])([0-9]{2})\.([0-9]+)$/\1.\2.\3/; s/\.0([0-9])\./.\1./')
build prometheus "$cache/prometheus-$prom" promtool github.com/prometheus/prometheus/cmd/promtool \
  "-X github.com/prometheus/common/version.Version=$promrel" remove_all_sd

# One folder of links, named by the set of versions, so tools find every binary in one place.
set_dir="$cache/set-k8s$k8s-etcd$etcd-kwok$kwok-helm$helm-prom$prom-kind$kind"
mkdir -p "$set_dir"
for p in "$cache/kubernetes-$k8s"/* "$cache/etcd-$etcd/etcd" "$cache/kwok-$kwok/kwok" "$cache/helm-$helm/helm" \
  "$cache/prometheus-$prom/promtool" "$cache/kind-$kind/kind"; do
  [ -e "$p" ] && ln -sfn "$p" "$set_dir/$(basename "$p")"
done
ln -sfn "$set_dir" "$cache/current"
echo "$set_dir"
