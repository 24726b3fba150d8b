import { ErrorCode } from '@fieldline/contracts';
import { type HashLane, HashQueue, HashQueueFull } from './hash-queue';

/** A queue whose work items finish only when the test says so; records the order in which they started. */
function harness(concurrency: number, limit: number) {
  const queue = new HashQueue(concurrency, limit);
  const started: string[] = [];
  const finish = new Map<string, () => void>();
  const outcome = new Map<string, string>();
  const submit = (lane: HashLane, key: string, name: string) =>
    queue
      .run(lane, key, () => {
        started.push(name);
        return new Promise<void>((resolve) => finish.set(name, resolve));
      })
      .then(
        () => outcome.set(name, 'done'),
        (err: unknown) => outcome.set(name, err instanceof HashQueueFull ? 'refused' : 'error'),
      );
  const done = async (name: string) => {
    finish.get(name)!();
    await new Promise((r) => setImmediate(r));
  };
  return { queue, started, outcome, submit, done };
}

describe('HashQueue', () => {
  it('runs at most `concurrency` at once, known clients first, others round-robin by address', async () => {
    const h = harness(1, 10);
    void h.submit('other', 'a', 'a1');
    for (const [key, name] of [
      ['a', 'a2'],
      ['a', 'a3'],
      ['a', 'a4'],
      ['b', 'b1'],
      ['c', 'c1'],
      ['b', 'b2'],
    ])
      void h.submit('other', key, name);
    void h.submit('known', 'admin', 'k1');
    expect(h.started).toEqual(['a1']);
    expect(h.queue.queued).toEqual({ known: 1, other: 6 });
    for (const name of ['a1', 'k1', 'a2', 'b1', 'c1', 'a3', 'b2']) await h.done(name);
    expect(h.started).toEqual(['a1', 'k1', 'a2', 'b1', 'c1', 'a3', 'b2', 'a4']);
  });

  it('keeps one of two slots for known clients: a stranger flood takes one, a known login starts at once', async () => {
    const h = harness(2, 10);
    for (const name of ['a1', 'b1', 'c1']) void h.submit('other', name[0], name);
    expect(h.started).toEqual(['a1']);
    void h.submit('known', 'admin', 'k1');
    expect(h.started).toEqual(['a1', 'k1']);
    await h.done('k1');
    expect(h.started).toEqual(['a1', 'k1']);
    await h.done('a1');
    expect(h.started).toEqual(['a1', 'k1', 'b1']);
    // While a known login hashes, no stranger's hash starts, though a slot is free.
    void h.submit('known', 'admin', 'k2');
    await h.done('b1');
    expect(h.started).toEqual(['a1', 'k1', 'b1', 'k2']);
    await h.done('k2');
    expect(h.started).toEqual(['a1', 'k1', 'b1', 'k2', 'c1']);
  });

  it('a full lane drops the newest of the key holding most, or refuses the newcomer at once', async () => {
    const h = harness(1, 3);
    void h.submit('other', 'x', 'x0');
    for (const name of ['x1', 'x2', 'x3']) void h.submit('other', 'x', name);
    // Full of x: a newcomer from y takes the place of x's newest.
    void h.submit('other', 'y', 'y1');
    await new Promise((r) => setImmediate(r));
    expect(h.outcome.get('x3')).toBe('refused');
    // x (2 waiting) vs z (0): x gives way again; then x1, y1, z1 hold one each and w is refused.
    void h.submit('other', 'z', 'z1');
    void h.submit('other', 'w', 'w1');
    void h.submit('other', 'x', 'x4');
    await new Promise((r) => setImmediate(r));
    expect(h.outcome.get('x2')).toBe('refused');
    expect(h.outcome.get('w1')).toBe('refused');
    expect(h.outcome.get('x4')).toBe('refused');
    expect(h.queue.refused).toBe(4);
    // The known lane has a limit of its own: a flood of others never fills it.
    void h.submit('known', 'admin', 'k1');
    for (const name of ['x0', 'k1', 'x1', 'y1']) await h.done(name);
    await h.done('z1');
    expect(h.started).toEqual(['x0', 'k1', 'x1', 'y1', 'z1']);
    expect([...h.outcome.values()].filter((o) => o === 'done')).toHaveLength(5);
  });

  it('answers RATE_LIMITED with a retry hint, and passes errors of the work through', async () => {
    const queue = new HashQueue(1, 0);
    const first = queue.run('other', 'a', () => new Promise((r) => setTimeout(r, 20)));
    const err = (await queue.run('other', 'b', () => Promise.resolve()).catch((e: unknown) => e)) as HashQueueFull;
    expect(err.code).toBe(ErrorCode.RATE_LIMITED);
    expect(err.details?.retryAfterMs).toBeGreaterThanOrEqual(1000);
    await first;
    await expect(queue.run('other', 'a', () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await queue.run('other', 'a', () => Promise.resolve(7))).toBe(7);
  });
});
