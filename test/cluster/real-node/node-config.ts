/**
 * Where each real node keeps its things, and its configuration files: containerd (its own
 * socket, root and runc root, so it never meets Docker's or another node's), the CNI bridge,
 * the kubelet (its own cgroup root, so two kubelets on one machine never clean up each
 * other's pods) and the one kube-proxy the machine needs (all nodes share its network).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The pod ranges of every node (node N: 10.244.N.0/24 on bridge cni-coN). */
export const podsCidr = '10.244.0.0/16';
/** iptables' wildcard for every node's bridge. */
export const bridgePattern = 'cni-co+';
export const sandboxImage = 'clusteropt.local/pause:1';
export const dataRoot = '/var/lib/clusteropt-node';
export const runRoot = '/run/clusteropt-node';

export interface NodeLayout {
  index: number;
  name: string;
  /** Configs, certificates, logs (inside the test cluster's state dir). */
  config: string;
  /** containerd's and the kubelet's data. */
  data: string;
  /** Sockets and runtime state. */
  run: string;
  bridge: string;
  subnet: string;
  gateway: string;
  kubeletPort: number;
  /** The kubelet's cgroup root: its QoS cgroups go below it. */
  cgroupRoot: string;
}

export function nodeLayout(stateDir: string, index: number): NodeLayout {
  const name = `real-node-${index}`;
  return {
    index,
    name,
    config: join(stateDir, 'real-node', name),
    data: join(dataRoot, name),
    run: join(runRoot, name),
    bridge: `cni-co${index}`,
    subnet: `10.244.${index}.0/24`,
    gateway: `10.244.${index}.1`,
    kubeletPort: 10250 + index,
    cgroupRoot: `/clusteropt-${name}`,
  };
}

export function containerdSocket(node: NodeLayout): string {
  return join(node.run, 'containerd.sock');
}

export function writeContainerdConfig(node: NodeLayout): string {
  const file = join(node.config, 'containerd.toml');
  writeFileSync(
    file,
    `version = 2
root = "${join(node.data, 'containerd')}"
state = "${join(node.run, 'containerd')}"
[grpc]
  address = "${containerdSocket(node)}"
[ttrpc]
  address = "${containerdSocket(node)}.ttrpc"
[debug]
  address = "${join(node.run, 'debug.sock')}"
  level = "info"
[plugins."io.containerd.internal.v1.opt"]
  path = "${join(node.data, 'opt')}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${sandboxImage}"
  enable_selinux = false
  # This machine's processes lack CAP_SYS_RESOURCE: runc cannot lower a sandbox's
  # oom_score_adj to the kubelet's -998 ("failed to update /proc/self/oom_score_adj:
  # Permission denied"). Clamp to containerd's own instead.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "/usr/sbin/runc"
        Root = "${join(node.run, 'runc')}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(node.config, 'cni')}"
`,
  );
  return file;
}

/**
 * One bridge per node, no masquerade: a pod's packet keeps its pod address, and the FORWARD
 * rules of real-node.ts reject it before it could leave the machine.
 */
export function writeCniConfig(node: NodeLayout): void {
  const dir = join(node.config, 'cni');
  mkdirSync(dir, { recursive: true });
  const conf = {
    cniVersion: '1.0.0',
    name: `clusteropt-${node.name}`,
    plugins: [
      {
        type: 'bridge',
        bridge: node.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: join(node.run, 'cni-ipam'),
          ranges: [[{ subnet: node.subnet, gateway: node.gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  };
  writeFileSync(join(dir, '10-clusteropt.conflist'), `${JSON.stringify(conf, null, 2)}\n`);
}

export interface KubeletOptions {
  nodeIp: string;
  caFile: string;
  healthzPort: number;
}

export function writeKubeletConfig(node: NodeLayout, o: KubeletOptions): string {
  const file = join(node.config, 'kubelet.yaml');
  // No resolv.conf for pods: the only nameserver here is outside the machine, and no
  // cluster DNS runs; pods use KUBERNETES_SERVICE_HOST and Service IPs.
  const resolv = join(node.config, 'resolv.conf');
  writeFileSync(resolv, '');
  writeFileSync(
    file,
    `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://${containerdSocket(node)}
# containerd 1.6 lacks the CRI RuntimeConfig call the kubelet would ask the driver with.
cgroupDriver: cgroupfs
cgroupRoot: ${node.cgroupRoot}
failSwapOn: false
# This machine has cgroup v1 (hybrid); kubelet 1.34 runs on it in maintenance mode.
failCgroupV1: false
address: ${o.nodeIp}
port: ${node.kubeletPort}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: ${o.healthzPort}
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: ${o.caFile}}
authorization:
  mode: Webhook
clusterDomain: cluster.local
resolvConf: ${resolv}
podLogsDir: ${join(node.data, 'pod-logs')}
serializeImagePulls: false
registerNode: true
maxPods: 40
# The images are imported, never pulled: keep them whatever the disk use.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%}
`,
  );
  return file;
}

export interface KubeProxyOptions {
  kubeconfig: string;
  metricsPort: number;
  healthzPort: number;
}

export function writeKubeProxyConfig(dir: string, o: KubeProxyOptions): string {
  const file = join(dir, 'kube-proxy.yaml');
  writeFileSync(
    file,
    `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${o.kubeconfig}
mode: iptables
clusterCIDR: ${podsCidr}
# Node ports on the primary address only; loopback would make kube-proxy set route_localnet.
nodePortAddresses: [primary]
metricsBindAddress: 127.0.0.1:${o.metricsPort}
healthzBindAddress: 127.0.0.1:${o.healthzPort}
# 0: leave the machine's conntrack sysctls as they are.
conntrack:
  maxPerCore: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`,
  );
  return file;
}
