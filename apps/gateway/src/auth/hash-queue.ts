import { ErrorCode, FieldlineError } from '@fieldline/contracts';

/** Which queue a login waits in: clients that have logged in as that user before, or anyone else. */
export type HashLane = 'known' | 'other';

/** A login refused because the queue in front of the hashing is full; nothing was evaluated. */
export class HashQueueFull extends FieldlineError {
  constructor(retryAfterMs: number) {
    super(ErrorCode.RATE_LIMITED, 'too many logins in progress; retry later', { retryAfterMs });
  }
}

interface Job {
  start(): void;
  refuse(err: HashQueueFull): void;
}

/**
 * Bounds the password hashes computed at once and the logins waiting for one. scrypt runs on libuv's threadpool
 * (4 threads, shared with fs and dns), so an unbounded number of logins would queue there, out of sight, behind each
 * other. Here the known lane is always served first; within a lane, waiting logins are served round-robin by key
 * (the user name for known clients, the address for others), so a flood from one address waits behind its own
 * attempts. With two slots or more, one is kept for known clients: their login never waits for a stranger's hash,
 * and while one runs no stranger's hash starts, so that it has the CPU to itself as soon as the one running ends.
 * A full lane makes room by dropping the newest login of the key that holds the most; when no key holds
 * more than the newcomer would, the newcomer is refused at once, never left to wait.
 */
export class HashQueue {
  private running = 0;
  private runningOther = 0;
  private runningKnown = 0;
  /** Slots others may take. */
  private readonly otherSlots: number;
  private readonly lanes: Record<HashLane, Map<string, Job[]>> = { known: new Map(), other: new Map() };
  private readonly waiting: Record<HashLane, number> = { known: 0, other: 0 };
  /** Logins refused by a full queue (at once, or dropped to make room). */
  refused = 0;
  /** Hashes started. */
  started = 0;
  private meanMs = 100;

  constructor(
    readonly concurrency: number,
    readonly limit: number,
  ) {
    this.otherSlots = Math.max(1, concurrency - 1);
  }

  /** Logins waiting in each lane (for /metrics). */
  get queued(): Readonly<Record<HashLane, number>> {
    return this.waiting;
  }

  run<T>(lane: HashLane, key: string, work: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const job: Job = {
        start: () => {
          this.running++;
          if (lane === 'other') this.runningOther++;
          else this.runningKnown++;
          this.started++;
          const t0 = performance.now();
          // The slot is free before the caller hears back, so that it may submit again at once.
          const settle = () => {
            this.meanMs += (performance.now() - t0 - this.meanMs) / 8;
            this.running--;
            if (lane === 'other') this.runningOther--;
            else this.runningKnown--;
            this.next();
          };
          work().then(
            (v) => (settle(), resolve(v)),
            (err: Error) => (settle(), reject(err)),
          );
        },
        refuse: (err) => reject(err),
      };
      if (this.mayStart(lane)) return job.start();
      if (!this.makeRoom(lane, key)) {
        this.refused++;
        return reject(this.full());
      }
      const jobs = this.lanes[lane].get(key);
      if (jobs) jobs.push(job);
      else this.lanes[lane].set(key, [job]);
      this.waiting[lane]++;
    });
  }

  private full(): HashQueueFull {
    const queued = this.waiting.known + this.waiting.other;
    return new HashQueueFull(Math.max(1000, Math.ceil((queued * this.meanMs) / this.concurrency)));
  }

  private makeRoom(lane: HashLane, key: string): boolean {
    if (this.waiting[lane] < this.limit) return true;
    const queues = this.lanes[lane];
    let longest: string | undefined;
    let most = 0;
    for (const [k, jobs] of queues)
      if (jobs.length > most) {
        longest = k;
        most = jobs.length;
      }
    // Dropping one of a key that would then hold as many as this one does not make the queue any fairer.
    if (longest === undefined || most <= (queues.get(key)?.length ?? 0) + 1) return false;
    const jobs = queues.get(longest)!;
    const dropped = jobs.pop()!;
    if (jobs.length === 0) queues.delete(longest);
    this.waiting[lane]--;
    this.refused++;
    dropped.refuse(this.full());
    return true;
  }

  private mayStart(lane: HashLane): boolean {
    if (this.running >= this.concurrency) return false;
    if (lane === 'known') return true;
    return this.runningOther < this.otherSlots && (this.otherSlots === this.concurrency || this.runningKnown === 0);
  }

  private next(): void {
    for (;;) {
      const job = (this.mayStart('known') && this.take('known')) || (this.mayStart('other') && this.take('other'));
      if (!job) return;
      job.start();
    }
  }

  private take(lane: HashLane): Job | undefined {
    const queues = this.lanes[lane];
    const first = queues.entries().next();
    if (first.done) return undefined;
    const [key, jobs] = first.value;
    const job = jobs.shift()!;
    // Re-inserting moves the key to the back: one login per key per round.
    queues.delete(key);
    if (jobs.length > 0) queues.set(key, jobs);
    this.waiting[lane]--;
    return job;
  }
}
