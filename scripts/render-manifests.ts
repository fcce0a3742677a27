#!/usr/bin/env node
/**
 * Regenerates (with --write) or checks (default) the files derived for packaging: the chart's
 * values.schema.json, its crds/ copies of manifests/crds/, its appVersion, and the plain
 * install manifest manifests/install/clusteropt-agent.yaml (`helm template`, default values).
 * Needs helm: $HELM or the test cluster's binaries (`npm run cluster:binaries`).
 * Exit status: 0 up to date (or written), 1 stale (check mode), 2 error.
 */
import { relative } from 'node:path';
import {
  expectedChartFiles,
  installManifestPath,
  renderInstallManifest,
  repoRoot,
  staleFiles,
  writeFiles,
} from '../src/packaging/chart.ts';

const write = process.argv.includes('--write');
try {
  // The chart files first: the install manifest is rendered from the updated chart.
  const chartFiles = expectedChartFiles();
  const changedChart = write ? writeFiles(chartFiles) : staleFiles(chartFiles);
  const install = new Map([[installManifestPath, renderInstallManifest()]]);
  const changedInstall = write ? writeFiles(install) : staleFiles(install);
  const changed = [...changedChart, ...changedInstall].map((p) => relative(repoRoot, p));
  if (write) {
    process.stdout.write(changed.length ? `wrote ${changed.join(', ')}\n` : 'up to date\n');
  } else if (changed.length) {
    process.stderr.write(`stale: ${changed.join(', ')}\nrun: node scripts/render-manifests.ts --write\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('up to date\n');
  }
} catch (err) {
  process.stderr.write(`render-manifests: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
}
