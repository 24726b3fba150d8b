#!/usr/bin/env node
// `npm start`: quick start in embedded mode. Runs the built gateway with simulated devices (SIM_DEVICES, default 5)
// unless the environment says otherwise. The build itself is done by the npm script before this runs.
// When PORT or MQTT_PORT is not set and its default port is taken (a system Mosquitto often holds 1883), the next free
// port is used and said so: quick start should start, not fail on a port clash.
'use strict';
const { spawn } = require('node:child_process');
const { createServer } = require('node:net');
const { join } = require('node:path');

function isFree(port) {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '0.0.0.0', () => srv.close(() => resolve(true)));
  });
}

async function pick(env, name, preferred) {
  if (env[name] !== undefined && env[name] !== '') return;
  for (let port = preferred; port < preferred + 50; port++) {
    if (await isFree(port)) {
      if (port !== preferred) console.log(`fieldline: port ${preferred} is taken; using ${name}=${port}`);
      env[name] = String(port);
      return;
    }
  }
}

async function main() {
  const env = { ...process.env };
  if (env.SIM_DEVICES === undefined || env.SIM_DEVICES === '') env.SIM_DEVICES = '5';
  await pick(env, 'PORT', 3000);
  await pick(env, 'MQTT_PORT', 1883);
  const main = join(__dirname, '..', 'dist', 'apps', 'gateway', 'src', 'main.js');
  const child = spawn(process.execPath, [main], { env, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

void main();
