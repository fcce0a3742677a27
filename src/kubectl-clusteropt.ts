#!/usr/bin/env node
/** kubectl-clusteropt entry point (`kubectl clusteropt …`; src/kubectl-plugin/main.ts). */
import { main } from './kubectl-plugin/main.ts';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(
      `kubectl clusteropt: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exitCode = 1;
  },
);
