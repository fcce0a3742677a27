#!/usr/bin/env bash
# Builds a kind node image without any image registry, for machines that reach none (the
# project machine, its CI). Everything in it is built here or comes from Debian's packages:
#   - base: Debian bookworm by mmdebstrap (systemd, containerd, runc, CNI plugins, iptables);
#   - kind's node files (entrypoint, units, containerd config) from the kind Go module;
#   - kubeadm, kubelet, kubectl, crictl, and the component images kubeadm asks for
#     (kube-apiserver, kube-controller-manager, kube-scheduler, kube-proxy, etcd, CoreDNS,
#     pause), built from the Go modules under ../go and from pause.c;
#   - default StorageClass "standard": local-path-provisioner (Go module) with a busybox helper
#     (Debian's busybox-static); no CNI DaemonSet (containerd's CNI template, one node).
# Each node drops whatever it or its pods would send outside its Docker network (egress guard).
#
# Usage: test/cluster/kind/node-image.sh      prints the image name on its last line
# Env:   KIND_NODE_IMAGE (default clusteropt.local/kind-node:<k8s version>),
#        REBUILD=1 remakes the Debian bases, CLUSTEROPT_BIN_CACHE as for build-binaries.sh,
#        CLUSTEROPT_KIND_PRUNE=1 empties the engine's build cache after a build.
# Needs: root, Docker with BuildKit (Docker 20.10 or buildx), mmdebstrap, gcc + libc6-dev, Go.
set -euo pipefail
kind_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
here="$(cd "$kind_dir/.." && pwd)"
root="$(cd "$here/../.." && pwd)"
cache="${CLUSTEROPT_BIN_CACHE:-$root/.cache/cluster-bin}"
t0=$SECONDS
log() { echo "[kind-node +$((SECONDS - t0))s] $*" >&2; }
# shellcheck source=SCRIPTDIR/../go-build.sh
source "$here/go-build.sh"
# shellcheck source=SCRIPTDIR/../../../scripts/image/buildkit.sh
source "$root/scripts/image/buildkit.sh"

# 1. Binaries: the test cluster's (kube-*, kubelet, kubectl, etcd, kind), then the node's own.
bin_dir=$(bash "$here/build-binaries.sh" | tail -1)
k8s=$(modver kubernetes k8s.io/kubernetes)
crictl=$(modver cri-tools sigs.k8s.io/cri-tools)
coredns=$(modver coredns github.com/coredns/coredns)
lpp=$(modver local-path-provisioner github.com/rancher/local-path-provisioner)
build kubernetes "$cache/kubernetes-$k8s" kubeadm k8s.io/kubernetes/cmd/kubeadm "$(k8s_ldflags "$k8s")"
build cri-tools "$cache/cri-tools-$crictl" crictl sigs.k8s.io/cri-tools/cmd/crictl \
  "-X sigs.k8s.io/cri-tools/pkg/version.Version=$crictl"
build coredns "$cache/coredns-$coredns" coredns github.com/coredns/coredns
build local-path-provisioner "$cache/local-path-provisioner-$lpp" local-path-provisioner \
  github.com/rancher/local-path-provisioner
kubeadm="$cache/kubernetes-$k8s/kubeadm"
kind_module=$(cd "$here/go/kind" && go list -m -f '{{.Dir}}' sigs.k8s.io/kind)
lpp_module=$(cd "$here/go/local-path-provisioner" && go list -m -f '{{.Dir}}' github.com/rancher/local-path-provisioner)

# 2. Debian bases: the node's, and a small one with iptables for kube-proxy.
have() { [ "${REBUILD:-0}" != 1 ] && docker image inspect "$1" >/dev/null 2>&1; }
debian() { # <tag> <packages>: a Debian bookworm rootfs with these packages, as an image
  have "$1" && return 0
  log "$1 from Debian's packages (mmdebstrap)"
  mmdebstrap --quiet --variant=minbase --aptopt='Apt::Install-Recommends "false"' \
    --include="$2" bookworm - | docker import - "$1" >/dev/null
}
node_base=clusteropt.local/kind-base:bookworm
debian "$node_base" systemd,systemd-sysv,containerd,runc,containernetworking-plugins,iptables,nftables,conntrack,iproute2,ethtool,util-linux,mount,kmod,libseccomp2,pigz,e2fsprogs,bash,ca-certificates,jq,procps
debian clusteropt.local/kind-iptables:bookworm iptables,conntrack,kmod

# 3. Component images, named as kubeadm and kind's containerd config ask for them.
ctx=$(mktemp -d "${TMPDIR:-/tmp}/kind-node.XXXXXX")
trap 'rm -rf "$ctx"' EXIT
image_for() { "$kubeadm" config images list --kubernetes-version "$k8s" | grep "/$1:"; }
static_image() { # <tag> <binary path> <path in image> [entrypoint]
  local c
  c="$ctx/img-$(basename "$3")"
  mkdir -p "$c" && cp "$2" "$c/bin"
  printf 'FROM scratch\nCOPY bin %s\nENV PATH=/usr/local/bin:/usr/bin:/bin\n%s\n' "$3" \
    "${4:+ENTRYPOINT [\"$4\"]}" | buildkit_build --quiet --network none -t "$1" -f - "$c" >/dev/null
}
log "component images for Kubernetes $k8s"
components=()
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  tag=$(image_for "$c") && components+=("$tag")
  static_image "$tag" "$bin_dir/$c" "/usr/local/bin/$c"
done
tag=$(image_for etcd) && components+=("$tag")
static_image "$tag" "$bin_dir/etcd" /usr/local/bin/etcd
tag=$(image_for coredns) && components+=("$tag")
static_image "$tag" "$cache/coredns-$coredns/coredns" /coredns /coredns
lpp_image=clusteropt.local/local-path-provisioner:$lpp && components+=("$lpp_image")
static_image "$lpp_image" "$cache/local-path-provisioner-$lpp/local-path-provisioner" \
  /usr/local/bin/local-path-provisioner

tag=$(image_for kube-proxy) && components+=("$tag")
mkdir -p "$ctx/img-kube-proxy"
cp "$bin_dir/kube-proxy" "$ctx/img-kube-proxy/kube-proxy.bin"
cp "$kind_dir/node/kube-proxy" "$ctx/img-kube-proxy/kube-proxy"
printf 'FROM clusteropt.local/kind-iptables:bookworm\nCOPY kube-proxy kube-proxy.bin /usr/local/bin/\n' |
  buildkit_build --quiet --network none -t "$tag" -f - "$ctx/img-kube-proxy" >/dev/null

# pause: the real node's static C pause, under kubeadm's name and the one kind's containerd
# config uses as the sandbox image.
pause=$(image_for pause) && components+=("$pause")
mkdir -p "$ctx/img-pause"
gcc -Os -static -s -o "$ctx/img-pause/pause" "$here/real-node/pause/pause.c"
buildkit_build --quiet --network none -t "$pause" -f "$here/real-node/pause/Dockerfile" "$ctx/img-pause" >/dev/null
sandbox=$(sed -n 's/^ *sandbox_image *= *"\(.*\)"/\1/p' "$kind_module/images/base/files/etc/containerd/config.toml")
if [ -n "$sandbox" ] && [ "$sandbox" != "$pause" ]; then docker tag "$pause" "$sandbox" && components+=("$sandbox"); fi

# local-path-provisioner's helper pods run sh, mkdir, rm: Debian's static busybox, every applet.
helper_image=clusteropt.local/busybox:bookworm && components+=("$helper_image")
mkdir -p "$ctx/img-busybox/rootfs/bin" "$ctx/img-busybox/deb"
(cd "$ctx/img-busybox/deb" && { apt-get download busybox-static >/dev/null 2>&1 ||
  { apt-get update >/dev/null && apt-get download busybox-static >/dev/null; }; })
dpkg-deb -x "$ctx"/img-busybox/deb/busybox-static_*.deb "$ctx/img-busybox/deb/x"
cp "$ctx/img-busybox/deb/x/bin/busybox" "$ctx/img-busybox/rootfs/bin/"
for applet in $("$ctx/img-busybox/rootfs/bin/busybox" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$ctx/img-busybox/rootfs/bin/$applet"
done
printf 'FROM scratch\nCOPY rootfs/ /\nENV PATH=/bin\n' |
  buildkit_build --quiet --network none -t "$helper_image" -f - "$ctx/img-busybox" >/dev/null

# 4. The node image's context: kind's node files, ours, the binaries, manifests, images.
log "node image context"
mkdir -p "$ctx/node/kind" "$ctx/node/bin" "$ctx/node/manifests"
cp -r "$kind_module/images/base/files/usr" "$kind_module/images/base/files/kind" \
  "$kind_module/images/base/files/etc" "$ctx/node/kind/"
cp -r "$kind_dir/node" "$ctx/node/node"
cp "$kubeadm" "$bin_dir/kubelet" "$bin_dir/kubectl" "$cache/cri-tools-$crictl/crictl" "$ctx/node/bin/"
cp "$kind_dir/node/default-cni.yaml" "$ctx/node/manifests/"
# The default StorageClass: local-path-provisioner's own manifest from its module, with the
# images built here, named "standard" as on every kind cluster, and marked the default.
sed -e "s|image: rancher/local-path-provisioner:.*|image: $lpp_image|" \
  -e "s|image: busybox|image: $helper_image|" \
  -e 's|^  name: local-path$|  name: standard\n  annotations:\n    storageclass.kubernetes.io/is-default-class: "true"|' \
  -e 's|/opt/local-path-provisioner|/var/local-path-provisioner|' \
  "$lpp_module/deploy/local-path-storage.yaml" >"$ctx/node/manifests/default-storage.yaml"
for want in "image: $lpp_image" "image: $helper_image" "name: standard" is-default-class /var/local-path-provisioner; do
  grep -q "$want" "$ctx/node/manifests/default-storage.yaml" ||
    { echo "default-storage.yaml: '$want' missing (local-path-provisioner $lpp changed its manifest?)" >&2; exit 1; }
done
chmod -R u+w,a+rX "$ctx/node"
chmod 0755 "$ctx"/node/kind/usr/local/bin/* "$ctx"/node/kind/kind/bin/*

# The node image is rebuilt only when an input changed: the context's files, the component
# images, the base and the Dockerfile, hashed into a label.
image=${KIND_NODE_IMAGE:-clusteropt.local/kind-node:$k8s}
inputs=$( (cd "$ctx/node" && find . -type f -print0 | sort -z | xargs -0 sha256sum
  docker image inspect --format '{{.Id}}' "${components[@]}" "$node_base"
  sha256sum <"$kind_dir/node.Dockerfile") | sha256sum | cut -c1-32)
label=io.clusteropt.kind-node.inputs
if [ "$(docker image inspect --format "{{index .Config.Labels \"$label\"}}" "$image" 2>/dev/null)" = "$inputs" ]; then
  log "$image is up to date"
  echo "$image"
  exit 0
fi
previous=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)
docker save "${components[@]}" -o "$ctx/node/images.tar"
log "building $image"
buildkit_build --network none --progress plain --build-arg "KUBE_VERSION=$k8s" \
  --build-arg "BASE_IMAGE=$node_base" --label "$label=$inputs" -f "$kind_dir/node.Dockerfile" \
  -t "$image" "$ctx/node" >"${CLUSTEROPT_KIND_NODE_LOG:-$ctx/build.log}" 2>&1 ||
  { tail -40 "${CLUSTEROPT_KIND_NODE_LOG:-$ctx/build.log}" >&2; exit 1; }
# The image it replaces is not kept; nor, in an engine of its own (run-local.sh sets
# CLUSTEROPT_KIND_PRUNE=1), the build cache, which holds every import of the images (600 MB).
[ -z "$previous" ] || docker rmi "$previous" >/dev/null 2>&1 || true
[ "${CLUSTEROPT_KIND_PRUNE:-0}" != 1 ] || docker builder prune --force >/dev/null
log "built $image: $(($(docker image inspect "$image" --format '{{.Size}}') / 1024 / 1024)) MiB"
echo "$image"
