import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { type TestGateway, waitFor } from '../support';

/** Debian's Python, which has python3-paho-mqtt, python3-websockets and python3-socketio (not pyenv's python3). */
export const PYTHON = '/usr/bin/python3';
export const script = (name: string): string => join(__dirname, name);

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end (or `timeoutMs`), never throwing on a non-zero exit: tests assert the code. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; input?: Buffer | string } = {},
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 15_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : null
          : 0;
        resolve({ code, stdout, stderr });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** A long-running program whose stdout lines are collected as they come. */
export class Spawned {
  readonly lines: string[] = [];
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;
  constructor(cmd: string, args: string[]) {
    this.child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let buf = '';
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => {
      buf += d;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        this.lines.push(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }
  stop(): Promise<number | null> {
    if (this.running) this.child.kill('SIGTERM');
    return this.exited;
  }
}

export type History = { series: { metric: string; points: { ts: number; value: number }[] }[] };

/** The device's raw history through the REST API (as an operator reads it). */
export async function history(gw: TestGateway, deviceId: string): Promise<History> {
  const { status, body } = await gw.get(`/api/devices/${deviceId}/readings?bucket=raw&from=0`);
  if (status !== 200) throw new Error(`history ${deviceId}: ${status}`);
  return body as History;
}

/** The stored points of one metric. */
export async function points(
  gw: TestGateway,
  deviceId: string,
  metric: string,
): Promise<{ ts: number; value: number }[]> {
  return (await history(gw, deviceId)).series.find((s) => s.metric === metric)?.points ?? [];
}

/** The stored points of one metric once there are at least `n` (an ack means spooled; the store follows a flush). */
export async function storedPoints(
  gw: TestGateway,
  deviceId: string,
  metric: string,
  n: number,
): Promise<{ ts: number; value: number }[]> {
  await waitFor(async () => (await points(gw, deviceId, metric)).length >= n, `${n} ${metric} of ${deviceId} stored`);
  return points(gw, deviceId, metric);
}

export const mqttHostPort = (gw: TestGateway): [string, string] => ['127.0.0.1', String(gw.mqttPort)];
