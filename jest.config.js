// Fast unit specs next to the code, integration specs that boot the gateway on ephemeral ports, and service specs
// against real InfluxDB / Mosquitto / Redis (production mode, several gateway nodes).
const common = {
  testEnvironment: 'node',
  moduleNameMapper: { '^@fieldline/contracts$': '<rootDir>/libs/contracts/src' },
  // tsconfig sets isolatedModules: ts-jest transpiles only; `npm run lint` and `npm run build` type-check.
  transform: {
    '^.+\\.ts$': 'ts-jest',
    // aedes 1.x and jose 6 ship ES modules only; Node 20 loads them through require(), jest 30 on Node 20 does not.
    '^.+/node_modules/(aedes|jose)/.+\\.js$': [
      'ts-jest',
      { tsconfig: { isolatedModules: true, allowJs: true, module: 'commonjs', esModuleInterop: true } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!(aedes|jose)/)'],
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
    {
      // Against real InfluxDB, Mosquitto and Redis, started (and installed if missing) by scripts/test-services.ts.
      ...common,
      displayName: 'services',
      testMatch: ['<rootDir>/apps/gateway/test/services/**/*.spec.ts'],
      globalSetup: '<rootDir>/apps/gateway/test/services/global-setup.ts',
      globalTeardown: '<rootDir>/apps/gateway/test/services/global-teardown.ts',
      setupFilesAfterEnv: ['<rootDir>/apps/gateway/test/services/jest.setup.ts'],
    },
    {
      // The Angular dashboard's specs: jest-preset-angular, zoneless, jsdom, CommonJS (apps/dashboard/tsconfig.spec.json).
      ...require('jest-preset-angular/presets').createCjsPreset({
        tsconfig: '<rootDir>/apps/dashboard/tsconfig.spec.json',
      }),
      displayName: 'dashboard',
      testMatch: ['<rootDir>/apps/dashboard/src/**/*.spec.ts'],
      setupFilesAfterEnv: ['<rootDir>/apps/dashboard/jest.setup.ts'],
      moduleNameMapper: {
        '^@fieldline/contracts$': '<rootDir>/libs/contracts/src',
        '^@fieldline/contracts/(.*)$': '<rootDir>/libs/contracts/src/$1',
      },
      testTimeout: 30_000,
    },
    {
      // The dashboard in headless Chromium (playwright-core, /usr/bin/chromium) against a gateway on ephemeral ports
      // with simulated devices. Needs the built dashboard (`npm test` builds first).
      ...common,
      displayName: 'browser',
      testMatch: ['<rootDir>/apps/dashboard/e2e/**/*.e2e-spec.ts'],
      testTimeout: 180_000,
    },
    {
      // `npm run bench -- --quick` end to end: it completes and its figures are sane. The timeout only stops a hang;
      // no test asserts on speed.
      ...common,
      displayName: 'bench',
      testMatch: ['<rootDir>/devices-sim/src/bench/**/*.e2e-spec.ts'],
      testTimeout: 600_000,
    },
  ],
};
