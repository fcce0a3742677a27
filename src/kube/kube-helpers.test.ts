import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { AgentError } from '../util/errors.ts';
import {
  apiErrorMessage,
  isMultiplePdbError,
  isNamespaceTerminating,
  isRetryableKubeError,
  isTooManyRequests,
  retryAfterMs,
  statusCode,
} from './api-errors.ts';
import { podFacts } from './pods.ts';
import { parseKind } from './scale.ts';

const apiError = (code: number, status: object, headers: Record<string, string> = {}) =>
  new ApiException(code, 'Unknown API Status Code!', JSON.stringify(status), headers);

describe('api errors', () => {
  it('reads a PDB refusal: 429 with its message and Retry-After', () => {
    const err = apiError(
      429,
      {
        kind: 'Status',
        code: 429,
        reason: 'TooManyRequests',
        message: "Cannot evict pod as it would violate the pod's disruption budget.",
      },
      { 'retry-after': '10' },
    );
    expect(statusCode(err)).toBe(429);
    expect(isTooManyRequests(err)).toBe(true);
    expect(retryAfterMs(err)).toBe(10_000);
    expect(apiErrorMessage(err)).toBe(
      "429: Cannot evict pod as it would violate the pod's disruption budget.",
    );
  });

  it('recognises the multiple-PDB 500 and the terminating-namespace 403', () => {
    expect(
      isMultiplePdbError(
        apiError(500, {
          code: 500,
          message:
            'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
        }),
      ),
    ).toBe(true);
    expect(isMultiplePdbError(apiError(500, { code: 500, message: 'etcd timeout' }))).toBe(false);
    expect(
      isNamespaceTerminating(
        apiError(403, {
          code: 403,
          details: { causes: [{ type: 'NamespaceTerminating', message: 'ns is terminating' }] },
        }),
      ),
    ).toBe(true);
    expect(isNamespaceTerminating(apiError(403, { code: 403, message: 'forbidden' }))).toBe(false);
  });

  it('copes with bodies that are not a Status, and with watch errors', () => {
    const plain = new ApiException(502, 'Bad Gateway', '<html>', {});
    expect(apiErrorMessage(plain)).toBe('HTTP-Code: 502');
    expect(statusCode(Object.assign(new Error('Gone'), { statusCode: 410 }))).toBe(410);
    expect(statusCode(new Error('ECONNRESET'))).toBeUndefined();
  });
});

describe('parseKind', () => {
  it('splits Kind.group', () => {
    expect(parseKind('Deployment')).toEqual({ kind: 'Deployment', group: undefined });
    expect(parseKind('Rollout.argoproj.io')).toEqual({ kind: 'Rollout', group: 'argoproj.io' });
  });
});

describe('podFacts', () => {
  it('reads raw watch JSON and typed objects alike', () => {
    const raw = {
      metadata: {
        name: 'p',
        namespace: 'ns',
        uid: 'u',
        deletionTimestamp: '2026-03-01T12:00:30Z',
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: 'r', controller: false },
          { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', uid: 's', controller: true },
        ],
      },
      spec: {
        nodeName: 'n1',
        volumes: [
          { name: 'h', hostPath: { path: '/x' } },
          { name: 'e', emptyDir: {} },
        ],
      },
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    };
    const facts = podFacts(raw);
    expect(facts).toMatchObject({
      namespace: 'ns',
      controller: { kind: 'StatefulSet', name: 'db' },
      hasEmptyDir: true,
      ready: true,
      deletionTimestampMs: Date.parse('2026-03-01T12:00:30Z'),
    });
    const typed = podFacts({
      ...raw,
      metadata: { ...raw.metadata, deletionTimestamp: new Date(0) },
    } as never);
    expect(typed.deletionTimestampMs).toBe(0);
    expect(podFacts({ spec: { volumes: [{ name: 'h', hostPath: { path: '/x' } }] } }).hasEmptyDir).toBe(
      false,
    );
  });
});

describe('isRetryableKubeError (the one rule)', () => {
  it('no answer, 408, 429 and 5xx may pass later; other answers will not', () => {
    expect(isRetryableKubeError(new TypeError('fetch failed'))).toBe(true);
    for (const code of [408, 429, 500, 503])
      expect(isRetryableKubeError(apiError(code, {})), String(code)).toBe(true);
    for (const code of [400, 403, 404, 409, 422])
      expect(isRetryableKubeError(apiError(code, {})), String(code)).toBe(false);
  });

  it("the agent's own errors say so themselves", () => {
    expect(isRetryableKubeError(new AgentError('X', 'x', { retryable: false }))).toBe(false);
    expect(isRetryableKubeError(new AgentError('X', 'x', { retryable: true }))).toBe(true);
  });
});
