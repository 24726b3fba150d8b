import { ErrorCode, FieldlineError } from '@fieldline/contracts';
import type { OperatorBudgetConfig } from '../config/live.config';

type Limits = Pick<
  OperatorBudgetConfig,
  'operatorBackfills' | 'operatorBackfillQueue' | 'nodeBackfills' | 'nodeBackfillQueue'
>;

interface Waiter {
  operator: string;
  alive: () => boolean;
  start: () => void;
  drop: () => void;
}

/**
 * How many `since` backfills run at once, per operator and on the node. Each one reads the store and holds its answer
 * until it is sent, so without a bound a few hundred requests from one viewer fill the store's queue and the heap
 * (issue 15). Past the running limits a backfill waits in a FIFO queue; past the queue bounds (per operator and for the
 * node) it is refused with `RATE_LIMITED`. A waiter whose socket went away is dropped when its turn comes, unread.
 */
export class BackfillGate {
  private running = 0;
  private readonly queue: Waiter[] = [];
  private readonly byOperator = new Map<string, { running: number; queued: number }>();
  /** Backfills refused (queue full) and started, for /metrics and tests. */
  refused = 0;
  started = 0;

  constructor(private readonly limits: Limits) {}

  /** Backfills running and waiting on the node. */
  stats(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /**
   * Runs `task` once the budgets allow. Rejects with a `RATE_LIMITED` {@link FieldlineError} when the queues are full;
   * resolves `undefined` without running `task` when `alive()` turned false while it waited.
   */
  async run<T>(operator: string, alive: () => boolean, task: () => Promise<T>): Promise<T | undefined> {
    const mine = this.byOperator.get(operator) ?? { running: 0, queued: 0 };
    this.byOperator.set(operator, mine);
    if (!this.canStart(mine)) {
      if (mine.queued >= this.limits.operatorBackfillQueue || this.queue.length >= this.limits.nodeBackfillQueue) {
        this.refused++;
        this.forget(operator, mine);
        const perOperator = mine.queued >= this.limits.operatorBackfillQueue;
        throw new FieldlineError(
          ErrorCode.RATE_LIMITED,
          perOperator
            ? `too many backfills: at most ${this.limits.operatorBackfills} running and ${this.limits.operatorBackfillQueue} waiting per operator`
            : 'too many backfills on this node right now; retry later',
          {
            limit: perOperator ? 'operator-backfills' : 'node-backfills',
            max: perOperator ? this.limits.operatorBackfills : this.limits.nodeBackfills,
            retryAfterMs: 1000,
          },
        );
      }
      mine.queued++;
      // next() counts the backfill as running before it hands over the turn.
      const go = await new Promise<boolean>((resolve) =>
        this.queue.push({ operator, alive, start: () => resolve(true), drop: () => resolve(false) }),
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
      this.forget(operator, mine);
      this.next();
    }
  }

  private canStart(mine: { running: number }): boolean {
    return this.running < this.limits.nodeBackfills && mine.running < this.limits.operatorBackfills;
  }

  /** Starts waiters, oldest first, that the budgets now allow (skipping operators at their own limit). */
  private next(): void {
    for (let i = 0; i < this.queue.length && this.running < this.limits.nodeBackfills;) {
      const w = this.queue[i];
      const mine = this.byOperator.get(w.operator)!;
      if (!w.alive()) {
        this.queue.splice(i, 1);
        mine.queued--;
        this.forget(w.operator, mine);
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

  private forget(operator: string, mine: { running: number; queued: number }): void {
    if (mine.running === 0 && mine.queued === 0) this.byOperator.delete(operator);
  }
}
