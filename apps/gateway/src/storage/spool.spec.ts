import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reading } from '@fieldline/contracts';
import { Spool, type SpoolOptions } from './spool';

const T0 = Date.UTC(2025, 0, 1);
const root = mkdtempSync(join(tmpdir(), 'fieldline-spool-'));
let dirs = 0;
const newDir = (): string => join(root, `d${++dirs}`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

const reading = (i: number, deviceId = 'dev-1'): Reading => ({ deviceId, ts: T0 + i, seq: i, metrics: { v: i } });
const readings = (from: number, n: number): Reading[] => Array.from({ length: n }, (_, i) => reading(from + i));
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const segmentsIn = (dir: string): string[] => readdirSync(dir).filter((f) => f.endsWith('.ndjson'));

function open(dir: string, over: Partial<SpoolOptions> = {}): Spool {
  const s = new Spool({ dir, maxBytes: 64 << 20, ...over });
  s.open();
  return s;
}

/** Reads back everything on disk, in order. */
async function drain(s: Spool): Promise<Reading[]> {
  const out: Reading[] = [];
  for (;;) {
    const got = await s.readBack(1000);
    if (got.length === 0) return out;
    out.push(...got);
  }
}

describe('Spool', () => {
  it('writes the readings of one event-loop turn as one group, then calls back', async () => {
    const dir = newDir();
    const s = open(dir);
    const calls: (Error | undefined)[] = [];
    expect(s.append([reading(1)])).toBe(true);
    s.afterCommit((err) => calls.push(err));
    expect(s.append([reading(2), reading(3)])).toBe(true);
    s.afterCommit((err) => calls.push(err));
    expect(calls).toEqual([]);
    expect(segmentsIn(dir)).toEqual([]);
    await tick();
    expect(calls).toEqual([undefined, undefined]);
    expect(s.stats()).toMatchObject({ groups: 1, appended: 3, segments: 1 });
    const lines = readFileSync(join(dir, segmentsIn(dir)[0]), 'utf8')
      .trim()
      .split('\n');
    expect(lines.map((l) => JSON.parse(l) as Reading)).toEqual([reading(1), reading(2), reading(3)]);
    // Nothing open: a callback runs at once.
    let now = false;
    s.afterCommit(() => (now = true));
    expect(now).toBe(true);
    s.close();
  });

  it('replays what a crashed run left, in order, and deletes it once stored', async () => {
    const dir = newDir();
    const first = open(dir, { segmentBytes: 2000 });
    for (let i = 0; i < 10; i++) {
      first.append(readings(i * 20, 20));
      await tick();
    }
    expect(first.stats().segments).toBeGreaterThan(3);
    // No close: the process died. A new instance on the same directory:
    const second = open(dir, { segmentBytes: 2000 });
    expect(second.behind).toBe(true);
    expect(second.replaying).toBe(true);
    const head = await second.readBack(10);
    expect(second.lastReadReplay).toBe(true);
    const back = [...head, ...(await drain(second))];
    expect(back).toEqual(readings(0, 200));
    expect(second.behind).toBe(false);
    second.confirm(150);
    expect(segmentsIn(dir).length).toBeGreaterThan(0);
    second.confirm(50);
    expect(segmentsIn(dir)).toEqual([]);
    expect(second.stats()).toMatchObject({ bytes: 0, segments: 0 });
  });

  it('skips a torn last line (a group cut by the crash, never acknowledged)', async () => {
    const dir = newDir();
    const first = open(dir);
    first.append(readings(0, 5));
    await tick();
    appendFileSync(join(dir, segmentsIn(dir)[0]), '{"deviceId":"dev-1","ts":17');
    const second = open(dir);
    expect(await drain(second)).toEqual(readings(0, 5));
    expect(second.stats().skipped).toBe(1);
    second.confirm(5);
    expect(segmentsIn(dir)).toEqual([]);
  });

  it('refuses appends beyond its size bound', async () => {
    const dir = newDir();
    const s = open(dir, { maxBytes: 1000 });
    let accepted = 0;
    for (let i = 0; i < 100; i++) {
      if (!s.append([reading(i)])) break;
      accepted++;
      await tick();
    }
    expect(accepted).toBeGreaterThan(5);
    expect(accepted).toBeLessThan(100);
    expect(s.stats().bytes).toBeLessThan(1000 + 100);
    // Storing frees the space again.
    s.confirm(accepted);
    s.close();
    const again = open(dir, { maxBytes: 1000 });
    expect(again.append([reading(1000)])).toBe(true);
  });

  it('reads back the stretch the writer could not hold in memory, continuing with new groups', async () => {
    const dir = newDir();
    const s = new Spool({ dir, maxBytes: 64 << 20 });
    const held: Reading[] = [];
    let room = 2;
    s.open((rs) => {
      if (s.behind || room <= 0) s.markBehind(rs.length);
      else {
        held.push(...rs);
        room--;
      }
    });
    for (let i = 0; i < 6; i++) {
      s.append([reading(i)]);
      await tick();
    }
    expect(held).toEqual(readings(0, 2));
    expect(s.behind).toBe(true);
    expect(s.backlog).toBe(4);
    const first = await s.readBack(3);
    expect(first).toEqual(readings(2, 3));
    expect(s.lastReadReplay).toBe(false);
    s.append([reading(6)]);
    await tick();
    expect(await drain(s)).toEqual([reading(5), reading(6)]);
    expect(s.behind).toBe(false);
    s.close();
  });
});

describe('Spool lock', () => {
  it('refuses a directory another live process holds, and takes over one left by a dead process', () => {
    const dir = newDir();
    const mine = open(dir, { lock: true });
    mine.close();
    // A live process that is not us (the parent of jest's worker) holds it:
    writeFileSync(join(dir, 'LOCK'), String(process.ppid));
    expect(() => open(dir, { lock: true })).toThrow(/DATA_DIR: the spool .* is in use by process/);
    // A process that is gone (pids are below 2^22 on Linux):
    writeFileSync(join(dir, 'LOCK'), String(2 ** 22 + 1));
    const again = open(dir, { lock: true });
    expect(readFileSync(join(dir, 'LOCK'), 'utf8')).toBe(String(process.pid));
    again.close();
    expect(readdirSync(dir)).not.toContain('LOCK');
  });
});
