import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { login, TEST_ADMIN_PASSWORD, testAuthEnv, waitFor } from './support';
import { errorMessage } from '@fieldline/contracts';

/** The gateway as `npm start` runs it, built by `npm test` before the suites. */
export const GATEWAY_MAIN = resolve(__dirname, '../../../dist/apps/gateway/src/main.js');

/** A built gateway running as its own process, for tests that signal or kill it. */
export interface BuiltGateway {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  out(): string;
  /** Its exit code (null when killed by a signal). */
  exited: Promise<number | null>;
  url: string;
  httpPort: number;
  mqttPort: number;
  /** An admin's access token. */
  admin: string;
  /** Registers a device and returns its token. */
  register(deviceId: string): Promise<string>;
  /** SIGKILLs it if it is still running (for `finally`). */
  kill(): void;
}

/** Spawns the built gateway on ephemeral ports in `dataDir` and waits until it printed its URLs and an admin logged in. */
export async function spawnBuiltGateway(dataDir: string, env: Record<string, string> = {}): Promise<BuiltGateway> {
  if (!existsSync(GATEWAY_MAIN)) throw new Error(`${GATEWAY_MAIN} is missing: run \`npm run build\` first`);
  const child = spawn(process.execPath, [GATEWAY_MAIN], {
    env: {
      ...process.env,
      PORT: '0',
      MQTT_PORT: '0',
      HOST: '127.0.0.1',
      DATA_DIR: dataDir,
      SIM_DEVICES: '0',
      ...(await testAuthEnv()),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  try {
    await waitFor(() => /MQTT \(embedded\) mqtt:\/\/\S+:\d+/.test(out), 'the gateway to print its URLs', 15_000);
  } catch (err) {
    kill();
    throw new Error(`${errorMessage(err)}; it printed:\n${out}`);
  }
  const httpPort = Number(/:(\d+)\/api\/devices/.exec(out)![1]);
  const mqttPort = Number(/MQTT \(embedded\) mqtt:\/\/\S+:(\d+)/.exec(out)![1]);
  const url = `http://127.0.0.1:${httpPort}`;
  const admin = (await login(url, 'admin', TEST_ADMIN_PASSWORD)).body.accessToken as string;
  const register = async (deviceId: string): Promise<string> => {
    const res = await fetch(`${url}/api/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ deviceId }),
    });
    return ((await res.json()) as { token: string }).token;
  };
  return { child, out: () => out, exited, url, httpPort, mqttPort, admin, register, kill };
}
