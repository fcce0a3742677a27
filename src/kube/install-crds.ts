/**
 * Installs the clusteropt.io CRDs from manifests/crds/ with server-side apply (idempotent:
 * the same manifests applied twice change nothing) and waits until the API server serves
 * them (conditions NamesAccepted and Established, then a list that answers: right after
 * Established a list may still get 429 "storage is (re)initializing"). Tests use it; the
 * Helm chart ships the same files.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ApiextensionsV1Api,
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1CustomResourceDefinition,
} from '@kubernetes/client-node';
import { parse } from 'yaml';
import { crdManifestDir } from '../crds/generate.ts';
import { sleep } from '../util/backoff.ts';
import { AgentError } from '../util/errors.ts';
import { isTooManyRequests } from './api-errors.ts';

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
  const custom = kc.makeApiClient(CustomObjectsApi);
  for (const name of names) {
    for (;;) {
      const crd = await api.readCustomResourceDefinition({ name });
      if (isEstablished(crd) && (await answersList(custom, crd))) break;
      if (Date.now() > deadline) {
        throw new AgentError('CRD_NOT_ESTABLISHED', `CRD ${name} not Established and served in time`, {
          retryable: true,
        });
      }
      await sleep(100, options.signal);
    }
  }
  return names;
}

/** Whether a list of the CRD's objects answers (false on 429 while its storage initializes). */
async function answersList(custom: CustomObjectsApi, crd: V1CustomResourceDefinition): Promise<boolean> {
  const version = crd.spec.versions.find((v) => v.storage)?.name ?? crd.spec.versions[0]?.name ?? '';
  try {
    await custom.listClusterCustomObject({
      group: crd.spec.group,
      version,
      plural: crd.spec.names.plural,
      limit: 1,
    });
    return true;
  } catch (err) {
    if (isTooManyRequests(err)) return false;
    throw err;
  }
}
