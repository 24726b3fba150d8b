import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import type { ProbeMemory, ProbeReport } from './probe';

/** Root of the repository, from `dist/devices-sim/src/bench/` (compiled) or `devices-sim/src/bench/` (ts-jest). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'devices-sim'))) return dir;
    dir = resolve(dir, '..');
  }
  throw new Error(`cannot find the repository root above ${__dirname}`);
}

/** A TCP port that was free a moment ago (listen on 0, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let clockTicks: number | null = null;
/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, 100 on Linux almost everywhere). */
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time and memory of one process, read from /proc. */
export interface ProcSnapshot {
  /** performance.now() of the reading. */
  at: number;
  /** User + system CPU seconds since the process started. */
  cpuS: number;
  /** Resident set size, bytes. */
  rssBytes: number;
}

/** Reads /proc/<pid>/stat (utime, stime) and /proc/<pid>/status (VmRSS); null when the process is gone. */
export function procSnapshot(pid: number): ProcSnapshot | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After the name: state is field 3, utime field 14, stime field 15 (1-based), i.e. indexes 11 and 12 here.
    const cpuS = (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return { at: performance.now(), cpuS, rssBytes: m ? Number(m[1]) * 1024 : 0 };
  } catch {
    return null;
  }
}

/** CPU% (100 = one core) and readings per core-second between two snapshots. */
export function cpuBetween(a: ProcSnapshot | null, b: ProcSnapshot | null): { cpuPct: number; cpuS: number } {
  if (!a || !b || b.at <= a.at) return { cpuPct: NaN, cpuS: NaN };
  const cpuS = b.cpuS - a.cpuS;
  return { cpuPct: (cpuS / ((b.at - a.at) / 1000)) * 100, cpuS };
}

/** Samples a process's RSS every `everyMs` to find its peak over a window. */
export class RssSampler {
  private timer: NodeJS.Timeout | null = null;
  peak = 0;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 250,
  ) {}

  start(): void {
    this.peak = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.everyMs);
    this.timer.unref();
  }

  stop(): number {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
    return this.peak;
  }

  private sample(): void {
    const s = procSnapshot(this.pid);
    if (s && s.rssBytes > this.peak) this.peak = s.rssBytes;
  }
}

/** A child process of the harness: a gateway, a broker or the relay. */
export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Event-loop and GC figures from the preloaded probe (Node children started with `probe`); null without one. */
  probe: Probe | null;
  /** Last lines of its stderr and stdout, for error messages. */
  tail(): string;
  /** Null while it runs; else its exit code or signal and {@link tail}. */
  exited(): string | null;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

/** Starts a process and keeps the tail of its output; rejects if it exits before `ready` resolves. */
export function startChild(
  name: string,
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
  withProbe = false,
): Child {
  // --expose-gc only lets the probe collect before a memory reading; nothing else calls gc().
  if (withProbe) args = ['--expose-gc', '--require', join(__dirname, 'probe.js'), ...args];
  const proc = spawn(command, args, {
    env,
    cwd,
    stdio: ['ignore', 'pipe', 'pipe', ...(withProbe ? ['ipc' as const] : [])],
  });
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) lines.push(line);
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<void>((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) resolve();
    else proc.once('exit', () => resolve());
  });
  if (proc.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  return {
    name,
    proc,
    pid: proc.pid,
    probe: withProbe ? new Probe(proc) : null,
    tail: () => lines.join('\n'),
    exited: () =>
      proc.exitCode === null && proc.signalCode === null
        ? null
        : `${name} exited (${proc.exitCode ?? proc.signalCode}):\n${lines.join('\n')}`,
    stop: async (graceMs = 15_000) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGTERM');
      const killer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(killer);
    },
  };
}

/** The harness's side of `probe.ts`: reset at the start of a window, read at its end. */
export class Probe {
  constructor(private readonly proc: ChildProcess) {}

  reset(): void {
    if (this.proc.connected) this.proc.send('probe:reset');
  }

  /** Event-loop delay and GC pauses since the last reset. */
  read(timeoutMs = 2000): Promise<ProbeReport | null> {
    return this.ask<ProbeReport>('probe:read', 'probe', timeoutMs);
  }

  /** Memory after a full GC. */
  memory(timeoutMs = 10_000): Promise<ProbeMemory | null> {
    return this.ask<ProbeMemory>('probe:mem', 'mem', timeoutMs);
  }

  /** Writes a heap snapshot (after a full GC) to `file`; resolves with its path. */
  heapSnapshot(file: string, timeoutMs = 120_000): Promise<string | null> {
    return this.ask<string>(`probe:snapshot:${file}`, 'snapshot', timeoutMs);
  }

  private ask<T>(request: string, key: string, timeoutMs: number): Promise<T | null> {
    const proc = this.proc;
    if (!proc.connected) return Promise.resolve(null);
    return new Promise((resolve) => {
      const onMessage = (m: unknown): void => {
        if (typeof m === 'object' && m !== null && key in m) {
          clearTimeout(timer);
          proc.off('message', onMessage);
          resolve((m as Record<string, T>)[key]);
        }
      };
      const timer = setTimeout(() => {
        proc.off('message', onMessage);
        resolve(null);
      }, timeoutMs);
      proc.on('message', onMessage);
      proc.send(request);
    });
  }
}

/** Resolves once `check` resolves true, polling every 50 ms; rejects after `timeoutMs` or when the child exits. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  child?: Child,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (child && (child.proc.exitCode !== null || child.proc.signalCode !== null)) {
      throw new Error(
        `${child.name} exited (${child.proc.exitCode ?? child.proc.signalCode}) while waiting for ${what}:\n${child.tail()}`,
      );
    }
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${child ? `:\n${child.tail()}` : ''}`);
    }
    await sleep(50);
  }
}

/** GET a URL on loopback; resolves with status and body text. */
export async function httpGet(
  url: string,
  timeoutMs = 30_000,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
  return { status: res.status, text: await res.text() };
}
