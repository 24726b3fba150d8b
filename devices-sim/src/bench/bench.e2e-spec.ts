import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchResults } from './report';

// The smoke test of `npm run bench -- --quick`: it completes and its figures are sane. Speed is what the bench
// prints, never what a test asserts: nothing here depends on how fast the machine is.
const root = join(__dirname, '..', '..', '..');
const cli = join(root, 'dist', 'devices-sim', 'src', 'bench', 'cli.js');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

const finite = (n: unknown): boolean => typeof n === 'number' && Number.isFinite(n);

describe('npm run bench -- --quick', () => {
  const out = mkdtempSync(join(tmpdir(), 'fieldline-bench-smoke-'));
  let run: { code: number | null; stdout: string; stderr: string };
  let r: BenchResults;

  beforeAll(async () => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first (npm test does)`);
    run = await runCli(['--quick', '--out', out]);
    if (run.code !== 0) throw new Error(`bench exited with ${run.code}:\n${run.stderr.slice(-4000)}`);
    r = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8')) as BenchResults;
    // Only a guard against a hang: the quick run takes about a minute, longer on a loaded machine.
  }, 600_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('prints the Markdown tables and writes the JSON and the chart', () => {
    for (const h of ['### Goals', '### Ingest', '### Fan-out', '### History', '### Isolation'])
      expect(run.stdout).toContain(h);
    expect(run.stdout).toMatch(/^\| run \| highest sustained/m);
    expect(readFileSync(join(out, 'latest.svg'), 'utf8')).toMatch(/^<svg[^]*<polyline[^]*<\/svg>\s*$/);
    expect(r.machine.nproc).toBeGreaterThan(0);
    expect(finite(r.load.mean)).toBe(true);
  });

  it('ingest: every run delivers every reading at the low quick rates, with finite ratios', () => {
    const ing = r.ingest!;
    const ids = ing.runs.map((x) => x.id);
    expect(ids).toEqual(expect.arrayContaining(['gateway-mqtt', 'gateway-ws', 'aedes-mqtt', 'relay-mqtt', 'relay-ws']));
    for (const x of ing.runs) {
      expect(x.steps.length).toBeGreaterThan(0);
      for (const s of x.steps) {
        // Latency bounds and back-pressure depend on how loaded the machine is; losses and refusals do not.
        expect({
          run: x.id,
          offered: s.offered,
          lost: s.lost,
          refused: s.refused,
          failed: s.failed + s.dropped,
        }).toEqual({ run: x.id, offered: s.offered, lost: 0, refused: 0, failed: 0 });
        expect(s.deliveredRate).toBeGreaterThan(0);
        expect(s.readingsPerCoreS).toBeGreaterThan(0);
        expect(finite(s.latency.p50) && finite(s.latency.p99) && s.latency.p99 >= s.latency.p50).toBe(true);
        if (x.target === 'gateway') {
          expect(s.accepted).toBe(s.sent);
          expect(s.stored).toBe(s.sent);
          expect(s.cpuPct).toBeGreaterThan(0);
          expect(s.rssMB).toBeGreaterThan(0);
        }
      }
    }
    // Ratios to the baselines at the same rate are finite and positive.
    for (const x of ing.runs) {
      for (const b of x.baselines) {
        const base = ing.runs.find((y) => y.id === b);
        if (!base) continue; // mosquitto is not installed everywhere
        const s = x.steps[0];
        const bs = base.steps.find((y) => y.offered === s.offered)!;
        for (const ratio of [
          s.deliveredRate / bs.deliveredRate,
          s.readingsPerCoreS / bs.readingsPerCoreS,
          s.latency.p99 / bs.latency.p99,
        ]) {
          expect(finite(ratio) && ratio > 0).toBe(true);
        }
      }
    }
  });

  it('fan-out: sockets get the readings of the devices they watch', () => {
    for (const x of r.fanout!.runs) {
      expect(x.error).toBeUndefined();
      for (const l of x.levels) {
        expect(l.framesPerS).toBeGreaterThan(0);
        // Counted over a short window whose edges cut readings either way, on a machine that may be busy: this only
        // catches a fan-out that delivers little or nothing.
        expect(l.deliveredShare).toBeGreaterThan(0.5);
        expect(l.refusedSubscriptions).toBe(0);
        expect(finite(l.kbPerSocket)).toBe(true);
      }
    }
  });

  it('history: the aggregate has 1,000 points and the backfill the readings asked for', () => {
    const h = r.history!;
    expect(h.readingsBig).toBeGreaterThan(10_000);
    const sizes = h.queries.map((q) => [q.name, q.size]);
    expect(sizes).toEqual([
      ['REST aggregate, 1 metric', 1000],
      ['REST aggregate, 3 metrics', 3000],
      ['Socket.IO since backfill', 10_000],
      ['Socket.IO since backfill', 60],
    ]);
    for (const q of h.queries) expect(q.p50Ms > 0 && finite(q.p50Ms / q.direct.p50Ms)).toBe(true);
  });

  it('isolation: no neighbour reading is lost, with or without the flooder', () => {
    const phases = r.isolation!.phases;
    expect(phases.map((p) => p.name)).toEqual(['alone', 'with flooder']);
    for (const p of phases) {
      expect(p.neighbours.lost).toBe(0);
      expect(p.neighbours.delivered).toBe(p.neighbours.sent);
      expect(finite(p.neighbours.latency.p99)).toBe(true);
    }
    expect(phases[1].flooder!.sent).toBeGreaterThan(0);
  });
});
