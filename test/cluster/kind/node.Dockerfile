# The clusteropt kind node image (built by node-image.sh, which lays out the context):
#   kind/        kind's node files (entrypoint, systemd units, containerd config), taken from
#                the kind Go module at build time
#   node/        this image's own files (egress guard, CNI template, kube-proxy wrapper)
#   bin/         kubeadm, kubelet, kubectl, crictl built here
#   manifests/   /kind/manifests: default-cni.yaml (ours), default-storage.yaml
#   images.tar   the component images, imported into the node's containerd
ARG BASE_IMAGE=clusteropt.local/kind-base:bookworm
FROM ${BASE_IMAGE}
ARG KUBE_VERSION

# Modes come from the context (node-image.sh sets them): COPY --chmod would also apply to
# the directories it copies into, such as /etc.
COPY kind/usr/local/bin/ /usr/local/bin/
COPY kind/kind/ /kind/
COPY kind/etc/ /etc/
COPY node/clusteropt-egress-guard /usr/local/bin/
COPY node/clusteropt-egress-guard.service /etc/systemd/system/
COPY node/cni-template.conflist /etc/containerd/
COPY manifests/ /kind/manifests/
COPY bin/kubeadm bin/kubelet bin/kubectl /usr/bin/
COPY bin/crictl /usr/local/bin/
COPY node/containerd-cni.toml /tmp/

# Debian's containerd, runc and CNI plugins where kind's files look for them; the runtime spec
# kind's containerd config names (its createContainer hook fakes product_uuid per node); only
# the units a node needs; the component images into containerd, unpacked at first use.
RUN set -eux; \
    ln -s /usr/bin/containerd /usr/local/bin/containerd; \
    mkdir -p /opt/cni /etc/kubernetes/manifests; ln -s /usr/lib/cni /opt/cni/bin; \
    cat /tmp/containerd-cni.toml >> /etc/containerd/config.toml; rm /tmp/containerd-cni.toml; \
    ctr oci spec \
      | jq '.hooks.createContainer = [{ "path": "/kind/bin/mount-product-files.sh" }] | del(.process.rlimits)' \
      > /etc/containerd/cri-base.json; \
    echo "${KUBE_VERSION}" > /kind/version; \
    rm -f /etc/systemd/system/*.wants/* /lib/systemd/system/multi-user.target.wants/* \
      /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \
      /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/*; \
    find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete; \
    echo ReadKMsg=no >> /etc/systemd/journald.conf; \
    systemctl enable containerd.service kubelet.service undo-mount-hacks.service clusteropt-egress-guard.service; \
    systemctl mask systemd-binfmt.service getty.target; \
    kubeadm version -o short; kubelet --version; containerd --version; runc --version | head -1

RUN --mount=type=bind,source=images.tar,target=/tmp/images.tar \
    set -eu; \
    containerd >/tmp/containerd.log 2>&1 & pid=$!; \
    for _ in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done; \
    ctr --namespace=k8s.io images import --no-unpack --all-platforms --digests /tmp/images.tar; \
    ctr --namespace=k8s.io images list -q; \
    kill "$pid"; wait "$pid" || true; rm -rf /tmp/containerd.log /run/containerd

ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
