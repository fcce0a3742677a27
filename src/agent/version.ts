import { readFileSync } from 'node:fs';

/** Set by scripts/bundle.ts (esbuild `define`): the bundle ships without package.json. */
declare const CLUSTEROPT_AGENT_VERSION: string | undefined;

/** The package version: compiled into the bundle, read from package.json when run from src/. */
export const agentVersion: string =
  typeof CLUSTEROPT_AGENT_VERSION === 'string'
    ? CLUSTEROPT_AGENT_VERSION
    : (() => {
        try {
          const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
            version?: string;
          };
          return pkg.version ?? '0.0.0';
        } catch {
          return '0.0.0';
        }
      })();

/**
 * The source revision the running build was made from: the image bakes it in as
 * CLUSTEROPT_BUILD_REVISION (the Dockerfile's REVISION build argument); "unknown" elsewhere.
 */
export const buildRevision: string = process.env.CLUSTEROPT_BUILD_REVISION || 'unknown';

/** One line for `clusteropt-agent --version`. */
export function versionLine(): string {
  return `clusteropt-agent ${agentVersion} (revision ${buildRevision}, node ${process.version})`;
}
