#!/usr/bin/env node
// `npm start`: quick start in embedded mode. Runs the built gateway with simulated devices (SIM_DEVICES, default 5)
// unless the environment says otherwise. The build itself is done by the npm script before this runs.
'use strict';
const { spawn } = require('node:child_process');
const { join } = require('node:path');

const env = { ...process.env };
if (env.SIM_DEVICES === undefined || env.SIM_DEVICES === '') env.SIM_DEVICES = '5';

const child = spawn(process.execPath, [join(__dirname, '..', 'dist', 'apps', 'gateway', 'src', 'main.js')], {
  env,
  stdio: 'inherit',
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
