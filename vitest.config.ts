import { defineConfig } from 'vitest/config';

// Three projects, from cheapest to dearest:
// - unit: pure logic beside the code (src/**), no I/O beyond temp files.
// - integration: real HTTP to the reference control plane, real SQLite files, child
//   processes; no Kubernetes.
// - k8s: against the real test cluster (etcd, kube-apiserver, controller-manager, scheduler,
//   kwok) that the global setup starts, or reuses when `npm run cluster:up` already did.
// - e2e (`npm run test:e2e`, not part of `npm test`): the image built, real kubelet nodes
//   joined to a cluster of its own, the chart installed on them (root, Docker, containerd).
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          // Projects run one after the other (groupOrder), so tests against the cluster do
          // not compete for the CPU with the unit and integration suites.
          sequence: { groupOrder: 0 },
          include: ['src/**/*.test.ts'],
          // Property tests and real-file tests on a loaded 2-core machine need more than 5 s.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          sequence: { groupOrder: 1 },
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'k8s',
          sequence: { groupOrder: 2 },
          include: ['test/k8s/**/*.test.ts'],
          globalSetup: ['test/cluster/global-setup.ts'],
          // Tests share one cluster (nodes are cluster-scoped): run files one at a time.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'e2e',
          sequence: { groupOrder: 3 },
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/e2e/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
