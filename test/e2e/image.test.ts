/**
 * The image `npm run image` built for this run (global setup): its labels and version, the
 * user it runs as, and that the build-time CA bundle stayed out of every layer.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../cluster/launcher.ts';
import { e2eImage } from './support/env.ts';

const version = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).version as string;
const docker = (args: string[]) => execFileSync('docker', args, { encoding: 'utf8', maxBuffer: 64 << 20 });

describe('the agent image', () => {
  it('carries its version and source revision in labels, --version and the environment', () => {
    const config = JSON.parse(docker(['image', 'inspect', e2eImage]))[0].Config;
    const revision = config.Labels['org.opencontainers.image.revision'] as string;
    expect(config.Labels['org.opencontainers.image.version']).toBe(version);
    expect(revision).toMatch(/^[0-9a-f]{12}(-dirty)?$/);
    expect(config.User).toBe('65532:65532');
    expect(config.Env).toContain(`CLUSTEROPT_BUILD_REVISION=${revision}`);
    const out = docker(['run', '--rm', '--network', 'none', '--read-only', e2eImage, '--version']).trim();
    expect(out).toMatch(
      new RegExp(`^clusteropt-agent ${version.replaceAll('.', '\\.')} \\(revision ${revision}, node v24\\.`),
    );
  });

  it('keeps the build-time CA bundle out of every layer and out of the environment', () => {
    // Certificates this machine added to its trust store (not Debian's): the ones only a
    // build behind this machine's TLS proxy needs.
    const local = '/usr/local/share/ca-certificates';
    const added = existsSync(local) ? readdirSync(local).filter((f) => f.endsWith('.crt')) : [];
    expect(added.length, `certificates in ${local} to look for`).toBeGreaterThan(0);
    const needles = added.map((f) => {
      const body = readFileSync(join(local, f), 'utf8')
        .split('\n')
        .filter((l) => l && !l.startsWith('-----'));
      return body[Math.floor(body.length / 2)]!;
    });
    const config = JSON.parse(docker(['image', 'inspect', e2eImage]))[0].Config;
    expect((config.Env as string[]).filter((e) => /CAFILE|EXTRA_CA/.test(e))).toEqual([]);
    const dir = mkdtempSync(join(tmpdir(), 'image-layers-'));
    try {
      execFileSync('bash', ['-c', `docker save "$1" | tar -x -C "$2"`, 'save', e2eImage, dir]);
      const layers = execFileSync('find', [dir, '-name', '*.tar', '-o', '-name', 'layer.tar'], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n')
        .filter(Boolean);
      expect(layers.length).toBeGreaterThan(1);
      for (const layer of layers) {
        const bytes = readFileSync(layer).toString('latin1');
        for (const needle of needles) expect(bytes.includes(needle), `${needle} in ${layer}`).toBe(false);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
