import { ErrorCode, FieldlineError } from '@fieldline/contracts';

/** How many tasks run at once per key (an operator) and in all, and how many may wait behind those. */
export interface GateLimits {
  perKey: number;
  perKeyQueue: number;
  total: number;
  totalQueue: number;
}

/** Words of a gate's refusals: what it runs, and the `details.limit` of each of its two limits. */
export interface GateNames {
  what: string;
  perKey: string;
  total: string;
}

interface Waiter {
  key: string;
  alive: () => boolean;
  start: () => void;
  drop: () => void;
}

/**
 * How many costly requests (`since` backfills, history queries, exports) run at once, per operator and on the node.
 * Each one reads the store and holds its answer until it is sent, so without a bound a few hundred requests from one
 * viewer fill the store's queue and the heap (issue 15). Past the running limits a task waits in a FIFO queue (a key
 * at its own limit does not hold up another); past the queue bounds it is refused with `RATE_LIMITED`. A waiter that
 * went away (its socket or request closed) is dropped when its turn comes, unrun.
 */
export class ConcurrencyGate {
  private running = 0;
  private readonly queue: Waiter[] = [];
  private readonly byKey = new Map<string, { running: number; queued: number }>();
  /** Tasks refused (queue full) and started, for /metrics and tests. */
  refused = 0;
  started = 0;

  constructor(
    private readonly limits: GateLimits,
    private readonly names: GateNames,
  ) {}

  /** Tasks running and waiting on the node. */
  stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /**
   * Runs `task` once the budgets allow. Rejects with a `RATE_LIMITED` {@link FieldlineError} when the queues are full;
   * resolves `undefined` without running `task` when `alive()` turned false while it waited.
   */
  async run<T>(key: string, alive: () => boolean, task: () => Promise<T>): Promise<T | undefined> {
    const mine = this.byKey.get(key) ?? { running: 0, queued: 0 };
    this.byKey.set(key, mine);
    if (!this.canStart(mine)) {
      const { perKey, perKeyQueue, total, totalQueue } = this.limits;
      if (mine.queued >= perKeyQueue || this.queue.length >= totalQueue) {
        this.refused++;
        this.forget(key, mine);
        const byKey = mine.queued >= perKeyQueue;
        const { what } = this.names;
        throw new FieldlineError(
          ErrorCode.RATE_LIMITED,
          byKey
            ? `too many ${what}: at most ${perKey} running and ${perKeyQueue} waiting per operator; retry later`
            : `too many ${what} on this node right now; retry later`,
          { limit: byKey ? this.names.perKey : this.names.total, max: byKey ? perKey : total, retryAfterMs: 1000 },
        );
      }
      mine.queued++;
      // next() counts the task as running before it hands over the turn.
      const go = await new Promise<boolean>((resolve) =>
        this.queue.push({ key, alive, start: () => resolve(true), drop: () => resolve(false) }),
      );
      if (!go) return undefined;
    } else {
      mine.running++;
      this.running++;
    }
    this.started++;
    try {
      return await task();
    } finally {
      mine.running--;
      this.running--;
      this.forget(key, mine);
      this.next();
    }
  }

  private canStart(mine: { running: number }): boolean {
    return this.running < this.limits.total && mine.running < this.limits.perKey;
  }

  /** Starts waiters, oldest first, that the budgets now allow (skipping keys at their own limit). */
  private next(): void {
    for (let i = 0; i < this.queue.length && this.running < this.limits.total;) {
      const w = this.queue[i];
      const mine = this.byKey.get(w.key)!;
      if (!w.alive()) {
        this.queue.splice(i, 1);
        mine.queued--;
        this.forget(w.key, mine);
        w.drop();
        continue;
      }
      if (!this.canStart(mine)) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      mine.queued--;
      mine.running++;
      this.running++;
      w.start();
    }
  }

  private forget(key: string, mine: { running: number; queued: number }): void {
    if (mine.running === 0 && mine.queued === 0) this.byKey.delete(key);
  }
}
