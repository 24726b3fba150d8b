import { ErrorCode, FieldlineError } from '@fieldline/contracts';
import { ConcurrencyGate } from './concurrency-gate';

/** A task that finishes when the test says so. */
function held(): { task: () => Promise<string>; finish: () => void; started: () => boolean } {
  let finish = (): void => undefined;
  let started = false;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    task: async () => {
      started = true;
      await done;
      return 'done';
    },
    finish: () => finish(),
    started: () => started,
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('ConcurrencyGate', () => {
  const limits = { perKey: 2, perKeyQueue: 1, total: 3, totalQueue: 2 };
  const names = { what: 'backfills', perKey: 'operator-backfills', total: 'node-backfills' };

  it('runs 2 per operator, queues 1 more, refuses the next with the operator limit', async () => {
    const gate = new ConcurrencyGate(limits, names);
    const tasks = [held(), held(), held(), held()];
    const runs = tasks.map((t) => gate.run('a', () => true, t.task));
    await turn();
    expect(tasks.map((t) => t.started())).toEqual([true, true, false, false]);
    await expect(runs[3]).rejects.toMatchObject({
      code: ErrorCode.RATE_LIMITED,
      details: { limit: 'operator-backfills', max: 2 },
    });
    expect(gate.stats()).toEqual({ running: 2, waiting: 1 });
    tasks[0].finish();
    await expect(runs[0]).resolves.toBe('done');
    await turn();
    expect(tasks[2].started()).toBe(true);
    tasks[1].finish();
    tasks[2].finish();
    await expect(Promise.all(runs.slice(1, 3))).resolves.toEqual(['done', 'done']);
    expect(gate.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('caps the node: a waiting operator does not hold up another that has room', async () => {
    const gate = new ConcurrencyGate(limits, names);
    const a = [held(), held(), held()];
    const b = [held(), held()];
    const runsA = a.map((t) => gate.run('a', () => true, t.task));
    const runsB = b.map((t) => gate.run('b', () => true, t.task));
    await turn();
    // a: 2 running, 1 waiting; b: 1 running (node full), 1 waiting (node queue full now).
    expect([...a, ...b].map((t) => t.started())).toEqual([true, true, false, true, false]);
    await expect(gate.run('c', () => true, held().task)).rejects.toBeInstanceOf(FieldlineError);
    await expect(gate.run('c', () => true, held().task)).rejects.toMatchObject({
      details: { limit: 'node-backfills' },
    });
    // b's slot frees: a is at its own limit, so b's waiter goes first although a's waited longer.
    b[0].finish();
    await runsB[0];
    await turn();
    expect(b[1].started()).toBe(true);
    expect(a[2].started()).toBe(false);
    [a[0], a[1], a[2], b[1]].forEach((t) => t.finish());
    await Promise.all([...runsA, runsB[1]]);
    expect(gate.stats()).toEqual({ running: 0, waiting: 0 });
  });

  it('drops a waiter whose socket went away without running it', async () => {
    const gate = new ConcurrencyGate(limits, names);
    const first = [held(), held()];
    const runs = first.map((t) => gate.run('a', () => true, t.task));
    let alive = true;
    const late = held();
    const dropped = gate.run('a', () => alive, late.task);
    alive = false;
    first.forEach((t) => t.finish());
    await Promise.all(runs);
    await expect(dropped).resolves.toBeUndefined();
    expect(late.started()).toBe(false);
    expect(gate.stats()).toEqual({ running: 0, waiting: 0 });
  });
});
