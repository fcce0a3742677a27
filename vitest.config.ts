import { defineConfig } from 'vitest/config';

// Three projects, from cheapest to dearest:
// - unit: pure logic beside the code (src/**), no I/O beyond temp files.
// - integration: real HTTP to the reference control plane, real SQLite files, child
//   processes; no Kubernetes.
// - k8s: against the real test cluster (etcd, kube-apiserver, controller-manager, scheduler,
//   kwok) that the global setup starts, or reuses when `npm run cluster:up` already did.
export default defineConfig({
  test: {
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'k8s',
          include: ['test/k8s/**/*.test.ts'],
          globalSetup: ['test/cluster/global-setup.ts'],
          // Tests share one cluster (nodes are cluster-scoped): run files one at a time.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
