import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The parts of a V8 `.cpuprofile` (what `node --cpu-prof` writes) that the summary needs. */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileEntry {
  /** Function name, `(anonymous)`, or V8's `(garbage collector)`, `(program)`, `(idle)`. */
  name: string;
  /** Script, shortened: `node_modules/aedes/lib/client.js:120`, `apps/gateway/src/...`, `node:internal/...`. */
  where: string;
  selfMs: number;
  /** Share of the profile's non-idle time. */
  pct: number;
}

export interface ProfileSummary {
  file: string;
  /** Wall time covered by the profile. */
  totalMs: number;
  /** Time spent idle (waiting for I/O). */
  idleMs: number;
  top: ProfileEntry[];
  /** Self time by package (`aedes`, `socket.io-parser`, ...), gateway code, contracts, node core, GC. */
  byPackage: { name: string; selfMs: number; pct: number }[];
}

/** Shortens a script URL to something readable from the repository root. */
export function shortUrl(url: string, root: string): string {
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + 1);
  if (root && u.startsWith(root)) u = u.slice(root.length).replace(/^\/+/, '');
  return u.replace(/^dist\//, '');
}

/** Which package (or part) a script belongs to, for the by-package summary. */
export function packageOf(name: string, url: string): string {
  if (url === '') return name.startsWith('(') ? name : 'native';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node core';
  if (url.includes('/apps/gateway/')) return 'gateway';
  if (url.includes('/libs/contracts/')) return 'contracts';
  if (url.includes('/devices-sim/')) return 'devices-sim';
  return 'other';
}

/**
 * Self time per function: each sample's time (the delta to the next sample, as DevTools counts it) goes to the
 * function on top of the stack. Named functions are summed over name + script; anonymous ones also by line, or every
 * callback of a file would merge into one row.
 */
export function summariseProfile(profile: CpuProfile, file: string, root: string, topN = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const dt = i + 1 < timeDeltas.length ? timeDeltas[i + 1] : 0;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + Math.max(0, dt));
  }
  const fns = new Map<string, ProfileEntry>();
  const pkgs = new Map<string, number>();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    totalUs += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    if (name === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = url ? `${shortUrl(url, root)}${functionName ? '' : `:${lineNumber + 1}`}` : '';
    const key = `${name}\u0000${where}`;
    const e = fns.get(key);
    if (e) e.selfMs += us / 1000;
    else
      fns.set(key, {
        name,
        where: url && functionName ? `${where}:${lineNumber + 1}` : where,
        selfMs: us / 1000,
        pct: 0,
      });
    const pkg = packageOf(name, url);
    pkgs.set(pkg, (pkgs.get(pkg) ?? 0) + us / 1000);
  }
  const busyMs = (totalUs - idleUs) / 1000;
  const pct = (ms: number): number => (busyMs > 0 ? Math.round((ms / busyMs) * 1000) / 10 : 0);
  const r1 = (ms: number): number => Math.round(ms * 10) / 10;
  return {
    file,
    totalMs: r1(totalUs / 1000),
    idleMs: r1(idleUs / 1000),
    top: [...fns.values()]
      .sort((a, b) => b.selfMs - a.selfMs)
      .slice(0, topN)
      .map((e) => ({ ...e, selfMs: r1(e.selfMs), pct: pct(e.selfMs) })),
    byPackage: [...pkgs.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => ({ name, selfMs: r1(ms), pct: pct(ms) })),
  };
}

/** The newest `.cpuprofile` in `dir` written at or after `since` (epoch ms), or null. */
export function newestProfile(dir: string, since = 0): string | null {
  let best: { file: string; mtime: number } | null = null;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return null;
  }
  for (const name of names) {
    if (!name.endsWith('.cpuprofile')) continue;
    const file = join(dir, name);
    const mtime = statSync(file).mtimeMs;
    if (mtime >= since && (!best || mtime > best.mtime)) best = { file, mtime };
  }
  return best?.file ?? null;
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}
