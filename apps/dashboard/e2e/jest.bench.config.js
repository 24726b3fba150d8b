// `npm run bench:dashboard`: the dashboard benchmark, with the browser suite's settings but its own file pattern, so
// that `npm test` never runs it. It prints figures and asserts nothing about speed.
const { resolve } = require('node:path');
const root = resolve(__dirname, '../../..');
const browser = require(resolve(root, 'jest.config.js')).projects.find((p) => p.displayName === 'browser');

/** @type {import('jest').Config} */
module.exports = {
  ...browser,
  rootDir: root,
  displayName: 'dashboard-bench',
  testMatch: ['<rootDir>/apps/dashboard/e2e/**/*.bench.ts'],
};
