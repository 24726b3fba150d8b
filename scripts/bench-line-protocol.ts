/*
 * Telegraf-shaped line protocol against HTTP JSON ingest, in one run, on one built gateway (issue 11, item 3).
 *
 *   npx nest build gateway && npx tsx scripts/bench-line-protocol.ts [--batches 20] [--hosts 10] [--rounds 2]
 *
 * Each host is one Telegraf agent (its device token; LINE_PROTOCOL_DEVICE_TAG=host): a batch is 5,000 lines as
 * `outputs.influxdb` sends them (gzip, ns precision, cpu/mem/system/swap/processes/kernel/disk/diskio/net every
 * 10 s, one timestamp per gather). The same readings go to `POST /api/devices/:id/readings` as JSON
 * (`{readings:[...]}`, up to 500 readings and 64 KiB a request, as devices send them: not compressed), to other
 * device ids. One request at a time on each side, the sides alternating for `--rounds` (after a warm-up round that
 * is not reported). Bodies are built and compressed before the clock starts. For each side:
 *   acked   - lines/s until the last answer (204 / 202: in the spool);
 *   stored  - lines/s until fieldline_store_written_total has them all;
 *   fanned  - lines/s until an operator subscribed to every device has received them all over Socket.IO;
 *   cpu     - the gateway's CPU time (user + system, /proc) per 1,000 lines.
 * The rate limit is off (DEVICE_RATE=0): this measures the ingest path, not the budget. Prints figures; asserts
 * nothing.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { io } from 'socket.io-client';
import {
  LineProtocolPath,
  Namespace,
  type ReadingsPayload,
  readingsPath,
  TelemetryEvent,
  LIMITS,
} from '@fieldline/contracts';
import { spawnBuiltGateway, type BuiltGateway } from '../apps/gateway/test/built-gateway';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const LINES_PER_BATCH = 5000;
const GATHER_MS = 10_000;

interface Point {
  measurement: string;
  tags: [string, string][];
  fields: [string, number, 'float' | 'int'][];
  tsMs: number;
}

/**
 * One Telegraf gather of one host: the default inputs, with `percpu = false` and one disk, disk device and interface
 * (the store keys a point by device, metric and time, not by tags: see docs/line-protocol.md), one timestamp.
 */
function gather(host: string, tsMs: number, k: number): Point[] {
  const f = (name: string, v: number): [string, number, 'float'] => [name, Math.round(v * 1000) / 1000, 'float'];
  const i = (name: string, v: number): [string, number, 'int'] => [name, Math.round(v), 'int'];
  const h: [string, string] = ['host', host];
  const user = 5 + ((k * 7) % 40) / 3;
  const point = (measurement: string, tags: [string, string][], fields: Point['fields']): Point => ({
    measurement,
    tags: [...tags, h].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    fields,
    tsMs,
  });
  return [
    point(
      'cpu',
      [['cpu', 'cpu-total']],
      [
        f('usage_user', user),
        f('usage_system', user / 3),
        f('usage_idle', 100 - user * 1.4),
        f('usage_iowait', 0.2),
        f('usage_irq', 0),
        f('usage_softirq', 0.05),
        f('usage_steal', 0),
        f('usage_nice', 0),
        f('usage_guest', 0),
        f('usage_guest_nice', 0),
      ],
    ),
    point(
      'mem',
      [],
      [
        i('total', 8_000_000_000),
        i('available', 5_000_000_000 - k * 1000),
        i('used', 3_000_000_000 + k * 1000),
        f('used_percent', 37.5 + (k % 10) / 10),
        f('available_percent', 62.5 - (k % 10) / 10),
        i('buffered', 100_000_000),
        i('cached', 2_000_000_000),
      ],
    ),
    point('system', [], [f('load1', 0.5 + (k % 5) / 10), f('load5', 0.4), f('load15', 0.3), i('n_cpus', 4)]),
    point(
      'swap',
      [],
      [i('total', 2_000_000_000), i('used', 1_000_000 + k), i('free', 1_999_000_000 - k), f('used_percent', 0.05)],
    ),
    point('processes', [], [i('running', 1 + (k % 3)), i('sleeping', 200), i('total', 210), i('zombies', 0)]),
    point(
      'kernel',
      [],
      [i('context_switches', 1e6 + k * 500), i('interrupts', 5e5 + k * 200), i('processes_forked', 1e4 + k)],
    ),
    point(
      'disk',
      [
        ['device', 'sda1'],
        ['fstype', 'ext4'],
        ['mode', 'rw'],
        ['path', '/'],
      ],
      [
        i('total', 100_000_000_000),
        i('free', 60_000_000_000 - k),
        i('used', 40_000_000_000 + k),
        f('used_percent', 40),
        i('inodes_total', 6_000_000),
        i('inodes_free', 5_000_000),
      ],
    ),
    point(
      'diskio',
      [['name', 'sda']],
      [i('reads', 1000 + k), i('writes', 2000 + k), i('read_bytes', 4096 * k), i('write_bytes', 8192 * k)],
    ),
    point(
      'net',
      [['interface', 'eth0']],
      [
        i('bytes_sent', 1e6 + k * 1500),
        i('bytes_recv', 2e6 + k * 3000),
        i('packets_sent', k),
        i('packets_recv', k * 2),
      ],
    ),
  ];
}

/** `batches` batches of 5,000 points, each from one host (round robin over `hosts`), with hosts' gathers in order. */
function workload(prefix: string, batches: number, hosts: number, t0: number): { host: string; points: Point[] }[] {
  const next = new Map<string, number>();
  const out: { host: string; points: Point[] }[] = [];
  for (let b = 0; b < batches; b++) {
    const host = `${prefix}-${b % hosts}`;
    const points: Point[] = [];
    let k = next.get(host) ?? 0;
    while (points.length < LINES_PER_BATCH) points.push(...gather(host, t0 + k * GATHER_MS, k++));
    next.set(host, k);
    out.push({ host, points: points.slice(0, LINES_PER_BATCH) });
  }
  return out;
}

const escTag = (s: string): string => s.replace(/[, =]/g, (c) => `\\${c}`);

/** A point as Telegraf's serializer writes it (tags sorted by key, integers with `i`, ns timestamp). */
function toLine(p: Point): string {
  const tags = p.tags.map(([k, v]) => `,${escTag(k)}=${escTag(v)}`).join('');
  const fields = p.fields.map(([k, v, t]) => `${escTag(k)}=${t === 'int' ? `${v}i` : v}`).join(',');
  return `${p.measurement}${tags} ${fields} ${p.tsMs}000000`;
}

/** The same point as the reading the gateway makes of it, for HTTP JSON ingest (the device in the URL). */
function toReading(p: Point): string {
  const metrics: Record<string, number> = {};
  for (const [k, v] of p.fields) metrics[`${p.measurement}_${k}`] = v;
  const tags: Record<string, string> = {};
  for (const [k, v] of p.tags) if (k !== 'host') tags[k] = v;
  return JSON.stringify(Object.keys(tags).length ? { ts: p.tsMs, metrics, tags } : { ts: p.tsMs, metrics });
}

/** JSON request bodies of at most maxBatch readings and maxMessageBytes. */
function jsonBodies(points: Point[]): string[] {
  const bodies: string[] = [];
  let cur: string[] = [];
  let bytes = 16;
  for (const p of points) {
    const r = toReading(p);
    if (cur.length === LIMITS.maxBatch || bytes + r.length + 1 > LIMITS.maxMessageBytes) {
      bodies.push(`{"readings":[${cur.join(',')}]}`);
      cur = [];
      bytes = 16;
    }
    cur.push(r);
    bytes += r.length + 1;
  }
  if (cur.length) bodies.push(`{"readings":[${cur.join(',')}]}`);
  return bodies;
}

interface Request {
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  lines: number;
  ok: number;
}

/** The gateway's CPU seconds so far (user + system). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function storedCount(gw: BuiltGateway): Promise<number> {
  const text = await (await fetch(`${gw.url}/metrics`)).text();
  return Number(/^fieldline_store_written_total (\d+)/m.exec(text)?.[1] ?? NaN);
}

interface Figures {
  side: string;
  lines: number;
  requests: number;
  bodyMiB: number;
  acked: number;
  stored: number;
  fanned: number;
  cpuMsPer1000: number;
}

async function runSide(gw: BuiltGateway, side: string, requests: Request[], received: () => number): Promise<Figures> {
  const lines = requests.reduce((n, r) => n + r.lines, 0);
  const stored0 = await storedCount(gw);
  const seen0 = received();
  const cpu0 = cpuSeconds(gw.child.pid!);
  const t0 = performance.now();
  for (const r of requests) {
    const res = await fetch(gw.url + r.path, { method: 'POST', headers: r.headers, body: r.body });
    if (res.status !== r.ok) throw new Error(`${side}: ${res.status} ${await res.text()}`);
    await res.arrayBuffer();
  }
  const acked = performance.now() - t0;
  let stored = 0;
  let fanned = 0;
  while (stored === 0 || fanned === 0) {
    const now = performance.now() - t0;
    if (fanned === 0 && received() - seen0 >= lines) fanned = now;
    if (stored === 0 && (await storedCount(gw)) - stored0 >= lines) stored = performance.now() - t0;
    if (now > 300_000) throw new Error(`${side}: not all stored / fanned out after 300 s`);
    if (stored === 0 || fanned === 0) await sleep(5);
  }
  const cpu = cpuSeconds(gw.child.pid!) - cpu0;
  return {
    side,
    lines,
    requests: requests.length,
    bodyMiB: requests.reduce((n, r) => n + r.body.length, 0) / 1024 / 1024,
    acked: lines / (acked / 1000),
    stored: lines / (stored / 1000),
    fanned: lines / (fanned / 1000),
    cpuMsPer1000: (cpu * 1000 * 1000) / lines,
  };
}

async function main(): Promise<void> {
  const batches = arg('batches', 20);
  const hosts = arg('hosts', 10);
  const rounds = arg('rounds', 2);
  const dir = mkdtempSync(join(tmpdir(), 'fieldline-bench-lp-'));
  const gw = await spawnBuiltGateway(dir, { DEVICE_RATE: '0', LINE_PROTOCOL_DEVICE_TAG: 'host' });
  try {
    const lpHosts = Array.from({ length: hosts }, (_, h) => `lp-host-${h}`);
    const jsonHosts = Array.from({ length: hosts }, (_, h) => `json-host-${h}`);
    const tokens = new Map<string, string>();
    for (const id of [...lpHosts, ...jsonHosts]) tokens.set(id, await gw.register(id));

    // An operator watching every device, counting what the live fan-out delivers.
    let received = 0;
    const socket = io(gw.url + Namespace.telemetry, {
      transports: ['websocket'],
      auth: { token: gw.admin },
      reconnection: false,
    });
    socket.on(TelemetryEvent.readings, (p: ReadingsPayload) => (received += p.readings.length));
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    for (const id of [...lpHosts, ...jsonHosts])
      await socket.timeout(5000).emitWithAck(TelemetryEvent.subscribe, { deviceId: id });

    const all: Figures[] = [];
    // Round -1 warms both paths up (JIT, first store writes) with two batches a side and is not reported.
    for (let round = -1; round < rounds; round++) {
      // Each round its own span of readings, in the past (20 batches from 10 hosts: 1,112 gathers of 10 s, 3.1 h).
      const t0 = Date.now() - 20 * 3_600_000 + (round + 1) * 4 * 3_600_000;
      const n = round < 0 ? 2 : batches;
      const lp: Request[] = workload('lp-host', n, hosts, t0).map(({ host, points }) => ({
        path: `${LineProtocolPath.write}?db=telegraf&precision=ns`,
        headers: {
          authorization: `Token ${tokens.get(host)!}`,
          'content-type': 'text/plain; charset=utf-8',
          'content-encoding': 'gzip',
        },
        body: gzipSync(points.map(toLine).join('\n')),
        lines: points.length,
        ok: 204,
      }));
      const json: Request[] = workload('json-host', n, hosts, t0).flatMap(({ host, points }) =>
        jsonBodies(points).map((body) => ({
          path: readingsPath(host),
          headers: { authorization: `Bearer ${tokens.get(host)!}`, 'content-type': 'application/json' },
          body: Buffer.from(body),
          lines: (body.match(/"ts":/g) ?? []).length,
          ok: 202,
        })),
      );
      const figures = [
        await runSide(gw, 'line protocol /write (gzip)', lp, () => received),
        await runSide(gw, 'HTTP JSON /api/devices/:id/readings', json, () => received),
      ];
      if (round >= 0) all.push(...figures);
    }
    socket.close();

    console.log(
      `\n${batches} batches of ${LINES_PER_BATCH} lines from ${hosts} hosts per side and round, ${rounds} rounds, ` +
        `node ${process.version}, ${new Date().toISOString()}\n`,
    );
    const row = (c: string[]) => console.log(c.map((s, i) => (i === 0 ? s.padEnd(38) : s.padStart(10))).join(''));
    row(['side', 'lines', 'requests', 'body MiB', 'acked/s', 'stored/s', 'fanned/s', 'cpu ms/1k']);
    for (const f of all)
      row([
        f.side,
        String(f.lines),
        String(f.requests),
        f.bodyMiB.toFixed(1),
        Math.round(f.acked).toString(),
        Math.round(f.stored).toString(),
        Math.round(f.fanned).toString(),
        f.cpuMsPer1000.toFixed(1),
      ]);
    const mean = (side: number, key: 'acked' | 'stored' | 'fanned' | 'cpuMsPer1000') => {
      const xs = all.filter((_, i) => i % 2 === side).map((f) => f[key]);
      return xs.reduce((a, b) => a + b, 0) / xs.length;
    };
    console.log('');
    for (const key of ['acked', 'stored', 'fanned'] as const)
      console.log(`ratio line protocol / JSON, ${key}: ${(mean(0, key) / mean(1, key)).toFixed(2)}`);
    console.log(
      `ratio of gateway CPU per line, JSON / line protocol: ${(mean(1, 'cpuMsPer1000') / mean(0, 'cpuMsPer1000')).toFixed(2)}`,
    );
  } finally {
    gw.kill();
    await gw.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
