import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../observability/logger.ts';
import { startReferenceControlPlane } from './index.ts';
import { countsBetween, RequestCounts } from './request-counts.ts';

describe('RequestCounts', () => {
  it('counts per method and route template, and subtracts snapshots', () => {
    const counts = new RequestCounts();
    counts.received('GET', '/api/v1/agent/actions');
    const before = counts.snapshot();
    counts.received('GET', '/api/v1/agent/actions');
    counts.received('POST', '/api/v1/agent/actions/status');
    counts.received('DELETE', undefined);
    expect(counts.snapshot()).toEqual([
      { method: 'DELETE', route: '(no route)', count: 1 },
      { method: 'GET', route: '/api/v1/agent/actions', count: 2 },
      { method: 'POST', route: '/api/v1/agent/actions/status', count: 1 },
    ]);
    expect(countsBetween(before, counts.snapshot())).toEqual([
      { method: 'DELETE', route: '(no route)', count: 1 },
      { method: 'GET', route: '/api/v1/agent/actions', count: 1 },
      { method: 'POST', route: '/api/v1/agent/actions/status', count: 1 },
    ]);
    // A snapshot is a copy: later requests do not change it.
    expect(before).toEqual([{ method: 'GET', route: '/api/v1/agent/actions', count: 1 }]);
  });

  it('the server counts every request on arrival, also refused and unmatched ones', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'co-rcp-counts-'));
    const cp = await startReferenceControlPlane({
      dbPath: join(dir, 'cp.db'),
      logger: createLogger({ level: 'silent' }),
    });
    try {
      const { apiKey } = await cp.admin.createCluster({ name: 'c' });
      const agent = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
      const id = '00000000-0000-4000-8000-000000000001';
      const answers = await Promise.all([
        fetch(`${cp.url}/api/v1/agent/actions?wait=0`, { headers: agent }),
        fetch(`${cp.url}/api/v1/agent/actions?wait=0`, { headers: { authorization: 'Bearer co_wrong' } }),
        fetch(`${cp.url}/api/v1/agent/actions/${id}/status`, {
          method: 'POST',
          headers: agent,
          body: JSON.stringify({ state: 'succeeded' }),
        }),
        fetch(`${cp.url}/api/v1/agent/actions/status`, {
          method: 'POST',
          headers: agent,
          body: JSON.stringify({ reports: [{ actionId: id, state: 'succeeded' }] }),
        }),
        fetch(`${cp.url}/api/v1/nowhere`),
      ]);
      expect(answers.map((a) => a.status)).toEqual([200, 401, 404, 200, 404]);
      expect(cp.requestCounts()).toEqual([
        { method: 'GET', route: '(no route)', count: 1 },
        { method: 'POST', route: '/admin/v1/clusters', count: 1 },
        { method: 'GET', route: '/api/v1/agent/actions', count: 2 },
        // Code-unit order: 's' (0x73) sorts before '{' (0x7b).
        { method: 'POST', route: '/api/v1/agent/actions/status', count: 1 },
        { method: 'POST', route: '/api/v1/agent/actions/{id}/status', count: 1 },
      ]);
    } finally {
      await cp.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
