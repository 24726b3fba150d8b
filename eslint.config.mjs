// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Which gateway module may import which (docs/architecture.md). A folder not listed under another's "may import" is
 * forbidden to it, so a new reach-in or cycle fails the lint.
 */
const GATEWAY_MODULES = {
  config: [],
  common: ['config'],
  metrics: ['common'],
  auth: ['common', 'config', 'metrics', 'state'],
  state: ['common', 'config', 'metrics'],
  storage: ['common', 'config', 'metrics'],
  live: ['common', 'config', 'metrics', 'storage'],
  devices: ['common', 'config', 'metrics', 'storage'],
  alarms: ['auth', 'common', 'config', 'metrics', 'state'],
  ingest: ['alarms', 'auth', 'common', 'config', 'devices', 'live', 'metrics', 'storage'],
  commands: ['auth', 'common', 'config', 'devices', 'ingest', 'state'],
  health: ['auth', 'common', 'ingest', 'state', 'storage'],
  export: ['auth', 'common', 'config', 'devices', 'storage'],
  openapi: ['auth', 'common', 'config'],
  backup: ['common', 'config', 'state', 'storage'],
  dashboard: [],
};
// The table itself must have no cycle (a module allowed to import another that may import it back): checked here,
// so that widening the table to let a change through fails lint as loudly as the import would.
(function assertAcyclic(graph) {
  const state = new Map();
  const visit = (name, path) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'open') throw new Error(`GATEWAY_MODULES has a cycle: ${[...path, name].join(' → ')}`);
    state.set(name, 'open');
    for (const dep of graph[name] ?? []) visit(dep, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(graph)) visit(name, []);
})(GATEWAY_MODULES);
const moduleBoundaries = Object.entries(GATEWAY_MODULES).map(([name, allowed]) => ({
  files: [`apps/gateway/src/${name}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          {
            group: [
              ...Object.keys(GATEWAY_MODULES)
                .filter((other) => other !== name && !allowed.includes(other))
                .map((other) => `../${other}/*`),
              '../gateway',
              '../lifecycle',
              '../main',
              '../app.module',
            ],
            message: `apps/gateway/src/${name} may import ${allowed.length ? `only ${allowed.join(', ')}` : 'no other module'} (docs/architecture.md)`,
          },
        ],
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', '**/*.js', '**/*.mjs', '**/.angular/**'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Tests poke at untyped wire payloads on purpose.
    files: ['**/*.spec.ts', '**/*.e2e-spec.ts', '**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  ...moduleBoundaries,
  {
    // Contracts are shared by everything and import no framework; the simulator speaks only the public protocols.
    files: ['libs/contracts/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: ['mqtt', 'ws', 'socket.io', 'socket.io-client', 'aedes'],
          patterns: [{ group: ['**/apps/**', '**/devices-sim/**', '@nestjs/*', '@angular/*'] }],
        },
      ],
    },
  },
  {
    // Its own tests may boot a gateway in-process; the simulator itself may not import one.
    files: ['devices-sim/**/*.ts'],
    ignores: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [{ group: ['**/apps/gateway/**'] }] }] },
  },
);
