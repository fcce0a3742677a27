import { describe, expect, it } from 'vitest';
import { ConfigError, configUsage, type LoadConfigInput, loadConfig } from './load.ts';
import type { AgentConfig } from './schema.ts';

const url = ['--control-plane-url', 'https://cp.example'];

function load(input: Partial<LoadConfigInput> & { files?: Record<string, string> }): AgentConfig {
  const result = loadConfig({
    argv: input.argv ?? url,
    env: input.env ?? {},
    readFile: (p) => {
      const text = input.files?.[p];
      if (text === undefined) throw new Error(`ENOENT: no such file ${p}`);
      return text;
    },
  });
  if (result.help) throw new Error('unexpected help');
  return result.config;
}

function problems(input: Partial<LoadConfigInput> & { files?: Record<string, string> }): string[] {
  try {
    load(input);
  } catch (err) {
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('fills defaults', () => {
    const c = load({});
    expect(c).toMatchObject({
      controlPlaneUrl: 'https://cp.example',
      stateDir: '/var/lib/clusteropt-agent',
      namespace: 'clusteropt-system',
      pollWaitSeconds: 25,
      dryRun: false,
      logLevel: 'info',
      leaderElection: {
        enabled: true,
        leaseDurationSeconds: 15,
        renewDeadlineSeconds: 10,
        retryPeriodSeconds: 2,
      },
    });
    expect(c.kubeconfig).toBeUndefined();
  });

  it('file < env < flag, nested keys included', () => {
    const files = {
      '/etc/a.yaml':
        'pollWaitSeconds: 5\nstateDir: /file\nnamespace: from-file\nleaderElection:\n  leaseName: file-lease\n',
    };
    const env = {
      CLUSTEROPT_POLL_WAIT_SECONDS: '7',
      CLUSTEROPT_STATE_DIR: '/env',
      CLUSTEROPT_DRY_RUN: 'true',
    };
    const c = load({ argv: [...url, '--config', '/etc/a.yaml', '--poll-wait-seconds=9'], env, files });
    expect(c.pollWaitSeconds).toBe(9);
    expect(c.stateDir).toBe('/env');
    expect(c.namespace).toBe('from-file');
    expect(c.dryRun).toBe(true);
    expect(c.leaderElection.leaseName).toBe('file-lease');
    expect(c.leaderElection.leaseDurationSeconds).toBe(15);
  });

  it('reports where each value came from', () => {
    const result = loadConfig({ argv: [...url, '--dry-run'], env: { CLUSTEROPT_NAMESPACE: 'x' } });
    expect(result.help === false && result.sources).toEqual({
      controlPlaneUrl: 'flag --control-plane-url',
      dryRun: 'flag --dry-run',
      namespace: 'env CLUSTEROPT_NAMESPACE',
    });
  });

  it('reads JSON files and the file named by CLUSTEROPT_CONFIG', () => {
    const files = { '/c.json': '{"controlPlaneUrl":"https://j.example","leaderElection":{"enabled":false}}' };
    const c = load({ argv: [], env: { CLUSTEROPT_CONFIG: '/c.json' }, files });
    expect(c.controlPlaneUrl).toBe('https://j.example');
    expect(c.leaderElection.enabled).toBe(false);
  });

  it('boolean flags: bare, =value, --no-', () => {
    expect(load({ argv: [...url, '--dry-run'] }).dryRun).toBe(true);
    expect(load({ argv: [...url, '--dry-run=false'], env: { CLUSTEROPT_DRY_RUN: '1' } }).dryRun).toBe(false);
    expect(load({ argv: [...url, '--no-leader-election-enabled'] }).leaderElection.enabled).toBe(false);
  });

  it('names the flag whose value is wrong', () => {
    expect(problems({ argv: [...url, '--poll-wait-seconds', 'soon'] })).toEqual([
      'flag --poll-wait-seconds: expected a number',
    ]);
    expect(problems({ argv: [...url, '--poll-wait-seconds', '1000'] })).toEqual([
      'flag --poll-wait-seconds: Too big: expected number to be <=300',
    ]);
    expect(problems({ argv: [...url, '--log-level', 'loud'] })).toEqual([
      'flag --log-level: expected one of trace, debug, info, warn, error, fatal',
    ]);
    expect(problems({ argv: [...url, '--dry-run=maybe'] })).toEqual([
      'flag --dry-run: expected true or false',
    ]);
    expect(problems({ argv: [...url, '--state-dir'] })).toEqual(['flag --state-dir: needs a value']);
  });

  it('names the env variable whose value is wrong', () => {
    expect(problems({ env: { CLUSTEROPT_STATE_DIR: '' } })).toEqual(['env CLUSTEROPT_STATE_DIR: required']);
    expect(problems({ env: { CLUSTEROPT_DRAIN_CONCURRENCY: '2.5' } })).toEqual([
      'env CLUSTEROPT_DRAIN_CONCURRENCY: Invalid input: expected int, received number',
    ]);
  });

  it('rejects unknown flags and file keys with a suggestion', () => {
    expect(problems({ argv: [...url, '--poll-wait=3'] })).toEqual([
      'flag --poll-wait: unknown flag (did you mean --poll-wait-seconds?)',
    ]);
    expect(
      problems({ argv: [...url, '--config', '/etc/x.yaml'], files: { '/etc/x.yaml': 'pollwait: 3\n' } }),
    ).toEqual(['file /etc/x.yaml: unknown key "pollwait" (did you mean pollWaitSeconds?)']);
    expect(
      problems({
        argv: [...url, '--config', '/x.yaml'],
        files: { '/x.yaml': 'leaderElection:\n  leaseDuration: 20\n  zzz: 1\n' },
      }),
    ).toEqual([
      'file /x.yaml: unknown key "leaseDuration" in leaderElection (did you mean leaseDurationSeconds?)',
      'file /x.yaml: unknown key "zzz" in leaderElection',
    ]);
  });

  it('checks file value types without coercing', () => {
    expect(
      problems({ argv: [...url, '--config', '/x.yaml'], files: { '/x.yaml': 'pollWaitSeconds: "30"\n' } }),
    ).toEqual(['file /x.yaml: key pollWaitSeconds: Invalid input: expected number, received string']);
    expect(problems({ argv: [...url, '--config', '/x.yaml'], files: { '/x.yaml': '- a\n- b\n' } })).toEqual([
      'file /x.yaml: expected a mapping',
    ]);
    expect(problems({ argv: [...url, '--config', '/x.yaml'], files: { '/x.yaml': 'a: [\n' } })[0]).toMatch(
      /^file \/x.yaml: not valid YAML or JSON/,
    );
    expect(problems({ argv: [...url, '--config', '/missing.yaml'] })[0]).toMatch(
      /^flag --config: cannot read \/missing.yaml: ENOENT/,
    );
  });

  it('says how to set a missing required setting', () => {
    expect(problems({ argv: [] })).toEqual([
      'controlPlaneUrl: required (set flag --control-plane-url, env CLUSTEROPT_CONTROL_PLANE_URL or key controlPlaneUrl in the config file)',
    ]);
  });

  it('cross-setting rules name the offending source', () => {
    expect(problems({ argv: ['--control-plane-url', 'http://cp.local'] })).toEqual([
      'flag --control-plane-url: http:// sends the API key in clear text; use https:// or set allowInsecureHttp',
    ]);
    expect(
      load({ argv: ['--control-plane-url', 'http://cp.local', '--allow-insecure-http'] }).allowInsecureHttp,
    ).toBe(true);
    expect(problems({ argv: [...url, '--leader-election-renew-deadline-seconds', '20'] })).toEqual([
      'flag --leader-election-renew-deadline-seconds: must be less than leaderElection.leaseDurationSeconds (15)',
    ]);
    expect(problems({ argv: [...url, '--leader-election-lease-duration-seconds', '5'] })).toEqual([
      'leaderElection.renewDeadlineSeconds (default): must be less than leaderElection.leaseDurationSeconds (5)',
    ]);
    expect(problems({ argv: [...url, '--control-plane-url', 'ftp://x'] })).toEqual([
      'flag --control-plane-url: Invalid URL',
    ]);
  });

  it('collects every problem at once', () => {
    expect(
      problems({ argv: ['--poll-wait-seconds', 'x', '--bogus'], env: { CLUSTEROPT_DRY_RUN: 'perhaps' } }),
    ).toHaveLength(3);
  });

  it('warns about unknown CLUSTEROPT_ variables instead of failing (the prefix is shared)', () => {
    const result = loadConfig({
      argv: url,
      // The image sets CLUSTEROPT_BUILD_REVISION (version.ts reads it): no warning for it.
      env: { CLUSTEROPT_POLL_WAIT: '3', CLUSTEROPT_TEST_KUBECONFIG: '/k', CLUSTEROPT_BUILD_REVISION: 'abc' },
    });
    expect(result.help === false && result.warnings).toEqual([
      'env CLUSTEROPT_POLL_WAIT: not a setting, ignored (did you mean CLUSTEROPT_POLL_WAIT_SECONDS?)',
      'env CLUSTEROPT_TEST_KUBECONFIG: not a setting, ignored (did you mean CLUSTEROPT_KUBECONFIG?)',
    ]);
  });

  it('--help wins over an incomplete configuration', () => {
    expect(loadConfig({ argv: ['--help', '--bogus'], env: {} })).toEqual({ help: true });
    expect(configUsage()).toMatch(/--poll-wait-seconds VALUE {2}Long-poll wait/);
  });
});
