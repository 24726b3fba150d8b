#!/usr/bin/env node
// `npm start`: quick start in embedded mode. Runs the built gateway with simulated devices (SIM_DEVICES, default 5)
// unless the environment says otherwise. The build itself is done by the npm script before this runs.
// When PORT or MQTT_PORT is not set and its default port is taken (a system Mosquitto often holds 1883), the next free
// port is used and said so: quick start should start, not fail on a port clash.
// The gateway refuses to start without JWT_SECRET and an operator; for a demo run, this script generates a secret and
// an admin password when none is configured and prints them. They live only in this process's environment: nothing
// is written to disk, and the next run generates new ones. Configure your own for anything but a demo.
'use strict';
const { spawn } = require('node:child_process');
const { randomBytes } = require('node:crypto');
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
  const generated = [];
  if (!env.JWT_SECRET) {
    env.JWT_SECRET = randomBytes(32).toString('base64url');
    generated.push(`  JWT_SECRET=${env.JWT_SECRET}`);
  }
  if (!env.ADMIN_PASSWORD && !env.ADMIN_PASSWORD_HASH && !env.USERS && !env.USERS_FILE) {
    env.ADMIN_PASSWORD = randomBytes(12).toString('base64url');
    env.FIELDLINE_DEMO_LOGIN = '1'; // the gateway repeats the login next to its URLs
    generated.push(`  ADMIN_PASSWORD=${env.ADMIN_PASSWORD}   (log in as: admin)`);
  }
  if (generated.length) {
    console.log(
      'fieldline: quick start: generated demo credentials for this run only (set them yourself to keep them):',
    );
    for (const line of generated) console.log(line);
  }
  const main = join(__dirname, '..', 'dist', 'apps', 'gateway', 'src', 'main.js');
  const child = spawn(process.execPath, [main], { env, stdio: 'inherit' });
  // The gateway stops its simulator, flushes and exits by itself (bounded by its own deadline, 30 s); on Ctrl-C it
  // has the terminal's SIGINT already and ignores the forwarded one. A gateway still running well past that
  // deadline is hung: it is killed so that quick start never leaves a process behind.
  let backstop = null;
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      child.kill(signal);
      backstop ??= setTimeout(() => child.kill('SIGKILL'), 40_000);
    });
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

void main();
