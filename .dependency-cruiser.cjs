// The project's import rules (docs/architecture.md explains them). `npm run lint` runs
// `depcruise src` with this file and fails on any violation (test files beside the code
// included: a test imports what its folder may).
//
// Layers, bottom up. A folder imports only from its own layer or a lower one.
const LAYERS = [
  ['util'],
  ['observability', 'config'],
  ['contract', 'crds'],
  ['kube', 'store', 'aws'],
  ['actions'],
  ['controllers', 'controlplane', 'operator'],
  ['agent'],
  // The command lines: the agent's and the kubectl plugin's (entry and folder). Nothing
  // imports them, and neither imports the other.
  ['cli.ts', 'kubectl-clusteropt.ts', 'kubectl-plugin'],
];
const CLIS = { agent: ['cli.ts'], plugin: ['kubectl-clusteropt.ts', 'kubectl-plugin'] };

// Apart from the agent: they may use the foundation and the contract, nothing else; no agent
// code imports them (only the command line, which dispatches to them).
const APART = ['reference-control-plane', 'packaging'];
const APART_MAY_USE = ['util', 'observability', 'config', 'contract', 'crds'];

/** `src/<name>/…` for folders, `src/cli.ts` for the entry point. */
const under = (names) => `^src/(${names.map((n) => n.replace('.', '\\.')).join('|')})(/|$)`;

const upward = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${i}-imports-upward`,
  comment: `${layer.join(', ')} may import only from: ${LAYERS.slice(0, i + 1)
    .flat()
    .join(', ')}.`,
  severity: 'error',
  from: { path: under(layer) },
  to: { path: under([...LAYERS.slice(i + 1).flat(), ...APART]) },
}));

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...upward,
    {
      name: 'agent-imports-apart',
      comment: `Agent code never imports ${APART.join(' or ')}.`,
      severity: 'error',
      from: { path: under(LAYERS.slice(0, -1).flat()) },
      to: { path: under(APART) },
    },
    {
      name: 'apart-imports-agent',
      comment: `${APART.join(' and ')} may use only ${APART_MAY_USE.join(', ')} (and themselves).`,
      severity: 'error',
      from: { path: under(APART) },
      to: {
        path: '^src/',
        pathNot: [under(APART_MAY_USE), '^src/$1/'],
      },
    },
    {
      name: 'command-lines-apart',
      comment: 'The agent CLI and the kubectl plugin do not import each other.',
      severity: 'error',
      from: { path: under(CLIS.plugin) },
      to: { path: under(CLIS.agent) },
    },
    {
      name: 'command-lines-apart-reverse',
      comment: 'The agent CLI and the kubectl plugin do not import each other.',
      severity: 'error',
      from: { path: under(CLIS.agent) },
      to: { path: under(CLIS.plugin) },
    },
    {
      name: 'plugin-imports-apart',
      comment: `The kubectl plugin talks to the Kubernetes API only: it never imports ${APART.join(' or ')}.`,
      severity: 'error',
      from: { path: under(CLIS.plugin) },
      to: { path: under(APART) },
    },
    {
      name: 'test-helpers-only-in-tests',
      comment: 'Test fixtures in src/ (test-db.ts, *-test-fixtures.ts) are for tests only.',
      severity: 'error',
      from: { path: '^src/', pathNot: '\\.test\\.ts$' },
      to: { path: '(^|/)(test-db|[a-z-]*test-fixtures)\\.ts$' },
    },
    {
      name: 'no-file-cycles',
      comment: 'No import cycles between files.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-folder-cycles',
      comment: 'No import cycles between folders.',
      severity: 'error',
      scope: 'folder',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'Every import resolves.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.json$' },
    parser: 'swc',
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.json'],
    },
  },
};
