/**
 * Crash safety of the state file with a real child process killed by SIGKILL at a random
 * point while it appends. Every append the child acknowledged (printed after the commit
 * returned) must be present exactly once after reopening, the journal and the outbox must
 * agree (finishAndReport is atomic), and the file must pass integrity_check.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StateStore, type StatusRowBody } from '../../src/store/index.ts';

const storeModule = new URL('../../src/store/index.ts', import.meta.url).href;

// The child: an endless synchronous append loop. Acks go out with writeSync *after* each
// call returned, i.e. after the COMMIT, so an ack implies a committed row.
const childSource = `
import { writeSync } from 'node:fs';
import { StateStore } from ${JSON.stringify(storeModule)};
const [path, run] = process.argv.slice(2);
const store = StateStore.open({ path });
writeSync(1, 'ready\\n');
for (let i = 0; ; i++) {
  if (i % 4 === 3) {
    const id = 'act-' + run + '-' + i;
    store.journal.received(id, { id });
    store.journal.started(id);
    store.finishAndReport(id, { state: 'succeeded', message: 'run ' + run + ' item ' + i });
    writeSync(1, 'F ' + id + '\\n');
  } else {
    const key = 'audit-' + run + '-' + i;
    store.outbox.append('audit', key, { run: Number(run), i, pad: 'p'.repeat(i % 700) });
    writeSync(1, 'A ' + key + '\\n');
  }
}
`;

const dir = mkdtempSync(join(tmpdir(), 'store-crash-'));
const childPath = join(dir, 'append-child.ts');
writeFileSync(childPath, childSource);
const dbPath = join(dir, 'state', 'agent.db');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child, SIGKILLs it `killAfterMs` after it is ready, returns every ack line. */
function runAndKill(run: number, killAfterMs: number): Promise<{ lines: string[]; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childPath, dbPath, String(run)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (timer === undefined && out.startsWith('ready\n')) {
        timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.on('error', reject);
    // 'close' fires after stdout is drained: every ack the child wrote is in `out`.
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${code}: ${err}`));
      const lines = out.split('\n');
      // A line cut by the kill (no trailing newline) is not an ack.
      lines.pop();
      resolve({ lines: lines.filter((l) => l !== 'ready'), signal });
    });
  });
}

describe('state file under SIGKILL', () => {
  it('keeps every acknowledged append exactly once and stays consistent, over repeated kills', async () => {
    const ackedAudit = new Set<string>();
    const ackedFinished = new Set<string>();
    for (let run = 0; run < 5; run++) {
      const killAfterMs = 50 + Math.floor(Math.random() * 400);
      const { lines } = await runAndKill(run, killAfterMs);
      expect(lines.length).toBeGreaterThan(0);
      for (const line of lines) {
        const [kind, key] = line.split(' ');
        if (kind === 'A') ackedAudit.add(key!);
        else if (kind === 'F') ackedFinished.add(key!);
        else throw new Error(`unexpected child output: ${line}`);
      }

      const store = StateStore.open({ path: dbPath });
      try {
        expect(store.integrityCheck()).toEqual(['ok']);
        const rows = store.outbox.peek({ maxRows: 1_000_000 });
        const keys = rows.map((r) => r.idempotencyKey);
        expect(new Set(keys).size).toBe(keys.length);
        const present = new Set(keys);
        for (const key of ackedAudit) expect(present.has(key), `acked ${key} missing`).toBe(true);
        for (const id of ackedFinished) {
          expect(store.journal.state(id)).toBe('finished');
          expect(present.has(`status:${id}:succeeded`), `result of ${id} missing`).toBe(true);
        }
        // At most one row per run may be committed without its ack (killed between the two).
        const unacked = keys.filter(
          (k) => !ackedAudit.has(k) && !ackedFinished.has(k.replace(/^status:(.*):succeeded$/, '$1')),
        );
        expect(unacked.length).toBeLessThanOrEqual(run + 1);
        // Journal and outbox agree both ways: no finished action without its queued result,
        // no result for an action that is not finished.
        for (const row of rows.filter((r) => r.kind === 'status')) {
          expect(store.journal.state((row.body as StatusRowBody).actionId)).toBe('finished');
        }
        const started = store.journal.interruptedActions().map((e) => e.id);
        for (const id of started) expect(present.has(`status:${id}:succeeded`)).toBe(false);
        // Bodies survived intact (JSON parsed by peek; check a field).
        for (const row of rows.filter((r) => r.kind === 'audit')) {
          // Raw append() bodies (not AuditEvents): read them as what was written.
          const body = row.body as unknown as { pad: string; i: number };
          expect(body.pad).toBe('p'.repeat(body.i % 700));
        }
      } finally {
        store.close();
      }
    }
    expect(ackedAudit.size + ackedFinished.size).toBeGreaterThan(50);
  });
});
