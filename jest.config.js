// Two projects: fast unit specs next to the code, and integration specs that boot the gateway on ephemeral ports.
const common = {
  testEnvironment: 'node',
  moduleNameMapper: { '^@fieldline/contracts$': '<rootDir>/libs/contracts/src' },
  // tsconfig sets isolatedModules: ts-jest transpiles only; `npm run lint` and `npm run build` type-check.
  transform: {
    '^.+\\.ts$': 'ts-jest',
    // aedes 1.x ships ES modules only; Node 20 loads them through require(), jest 30 on Node 20 does not.
    '^.+/node_modules/aedes/.+\\.js$': [
      'ts-jest',
      { tsconfig: { isolatedModules: true, allowJs: true, module: 'commonjs', esModuleInterop: true } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!aedes/)'],
};

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{apps/gateway,libs/contracts,devices-sim}/src/**/*.spec.ts'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/apps/gateway/test/**/*.e2e-spec.ts'],
      testTimeout: 30_000,
    },
  ],
};
