/**
 * Installs the clusteropt.io CRDs from manifests/crds/ with server-side apply (idempotent:
 * the same manifests applied twice change nothing) and waits until the API server serves
 * them (conditions NamesAccepted and Established). Tests use it; the Helm chart ships the same files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { sleep } from '../util/backoff.ts';
import { AgentError } from '../util/errors.ts';
import { crdManifestDir } from './generate.ts';

export interface InstallCrdsOptions {
  /** Folder with the CRD manifests; default manifests/crds/ of this package. */
  dir?: string;
  fieldManager?: string;
  /** How long to wait for Established, in ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Reads every *.yaml in the folder as one CRD each, in file-name order. */
export function readCrdManifests(dir = crdManifestDir): V1CustomResourceDefinition[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
    .map((f) => parse(readFileSync(join(dir, f), 'utf8')) as V1CustomResourceDefinition);
}

function isEstablished(crd: V1CustomResourceDefinition): boolean {
  const conditions = crd.status?.conditions ?? [];
  const holds = (type: string) => conditions.some((c) => c.type === type && c.status === 'True');
  return holds('Established') && holds('NamesAccepted');
}

/** Applies all CRDs and resolves once every one is Established; returns their names. */
export async function installCrds(kc: KubeConfig, options: InstallCrdsOptions = {}): Promise<string[]> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  const crds = readCrdManifests(options.dir);
  const names: string[] = [];
  for (const crd of crds) {
    const name = crd.metadata?.name;
    if (!name) throw new AgentError('CRD_INVALID_MANIFEST', 'a CRD manifest has no metadata.name');
    await api.patchCustomResourceDefinition(
      { name, body: crd, fieldManager: options.fieldManager ?? 'clusteropt-agent', force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    names.push(name);
  }
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (isEstablished(crd)) break;
      if (Date.now() > deadline) {
        throw new AgentError('CRD_NOT_ESTABLISHED', `CRD ${name} not Established in time`, {
          retryable: true,
        });
      }
      await sleep(100, options.signal);
    }
  }
  return names;
}
