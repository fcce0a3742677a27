#!/usr/bin/env node
/**
 * clusteropt-agent entry point. Subcommands:
 *   run              the in-cluster agent (operator + poller + shipper)
 *   control-plane    the reference control plane (serve, create-cluster, enqueue, actions)
 *   openapi          print the contract's OpenAPI document
 *   --version        print the version, source revision and Node.js version
 * Each subcommand lives in its own module and is loaded on demand.
 */
const commands: Record<string, () => Promise<{ main(argv: string[]): Promise<number> }>> = {
  run: () => import('./agent/run.ts'),
  'control-plane': () => import('./reference-control-plane/cli.ts'),
  openapi: () => import('./reference-control-plane/openapi-document.ts'),
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--version' || name === 'version') {
    const { versionLine } = await import('./agent/version.ts');
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  const load = name ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(
      `usage: clusteropt-agent <${Object.keys(commands).join('|') || 'command'}> [options]\n` +
        (name && name !== '--help' && name !== '-h' ? `unknown command "${name}"\n` : ''),
    );
    return name === '--help' || name === '-h' ? 0 : 2;
  }
  const mod = await load();
  return mod.main(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `clusteropt-agent: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
