import { randomUUID } from 'node:crypto';
import {
  type Command,
  type CommandDelivery,
  COMMAND_LIMITS,
  type CommandRequest,
  CommandRequestSchema,
  type CommandStatus,
  type DeviceCommandReply,
  ErrorCode,
  FieldlineError,
  isFinalCommandStatus,
} from '@fieldline/contracts';
import type { Logger as AppLogger } from '../common/logger';
import type { DeviceEventsListener } from '../ingest/device-events';
import type { DeviceTransports } from '../ingest/device-transports';
import { type CommandEvent, transition } from './command.lifecycle';
import { applied, type CommandsRepository, IN_FLIGHT, publicCommand, type StoredCommand } from './commands.repository';

type Logger = Pick<AppLogger, 'warn'>;

export interface CommandServiceOptions {
  /** Commands of one device sent and not done at once; the next waits (per-device order). */
  inFlightPerDevice: number;
  /** How often timeouts and expiries are looked for (their precision). */
  sweepMs: number;
}

export const DEFAULT_COMMAND_OPTIONS: CommandServiceOptions = { inFlightPerDevice: 1, sweepMs: 200 };

/**
 * Commands to devices: stored first, then sent through the device transports, one device's commands in posting order
 * with at most `inFlightPerDevice` sent and not done. Everything that happens to one device's commands (a post, an
 * ack, a result, a timeout, a reconnect) runs in that device's own queue, one after the other, and every change is a
 * compare-and-set on the stored status: the store is the truth, so a restart resumes where the store says (a command
 * sent before it times out after it, and goes back to the queue if it may).
 */
export class CommandService implements DeviceEventsListener {
  private readonly chains = new Map<string, Promise<unknown>>();
  /** Requests waiting for a command to end (`?wait`): called with it when final, or with nothing at stop. */
  private readonly waiters = new Map<string, Set<(c?: Command) => void>>();
  private readonly listeners: ((c: Command) => void)[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sweeping = false;
  private stopped = false;

  constructor(
    private readonly repo: CommandsRepository,
    private readonly transports: DeviceTransports,
    private readonly log: Logger,
    private readonly opts: CommandServiceOptions = DEFAULT_COMMAND_OPTIONS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Listens to the transports, starts the sweep, and sends what waits for devices connected now. */
  async start(): Promise<void> {
    this.stopped = false;
    this.transports.events.listen(this);
    this.timer = setInterval(() => void this.sweep(), this.opts.sweepMs);
    this.timer.unref();
    await this.sweep();
    for (const deviceId of await this.repo.devicesWithQueue()) void this.serial(deviceId, () => this.pump(deviceId));
  }

  /** Stops sweeping and waits for the work under way. Commands keep their stored state for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await Promise.allSettled([...this.chains.values()]);
    // Waiting requests get the command as it is now, before the state store closes and HTTP is shut.
    for (const set of [...this.waiters.values()]) for (const done of [...set]) done();
  }

  /** Calls `fn` with every command after each change. */
  onChange(fn: (c: Command) => void): void {
    this.listeners.push(fn);
  }

  /**
   * Stores a new command (or finds the one posted before with the same idempotency key: `created` false) and sends
   * it when its turn comes. A queued command with the same collapse key is cancelled (COLLAPSED) in the same step.
   */
  async create(
    deviceId: string,
    body: unknown,
    createdBy: string | null,
  ): Promise<{ command: Command; created: boolean }> {
    const parsed = CommandRequestSchema.safeParse(body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, `${issue.path.join('.') || 'body'}: ${issue.message}`, {
        issues: parsed.error.issues.slice(0, 5).map((i) => ({ path: i.path.join('.'), message: i.message })),
      });
    }
    const req = parsed.data;
    if (req.params !== undefined && Buffer.byteLength(JSON.stringify(req.params)) > COMMAND_LIMITS.maxParamsBytes) {
      throw new FieldlineError(
        ErrorCode.INVALID_REQUEST,
        `params: at most ${COMMAND_LIMITS.maxParamsBytes} bytes of JSON`,
      );
    }
    return this.serial(deviceId, async () => {
      const { command, created, collapsed } = await this.repo.transaction(async (trx) => {
        if (req.idempotencyKey !== undefined) {
          const first = await this.repo.byIdempotencyKey(deviceId, req.idempotencyKey, trx);
          if (first) return { command: first, created: false, collapsed: [] };
        }
        const open = await this.repo.countOpen(deviceId, trx);
        if (open >= COMMAND_LIMITS.maxOpenPerDevice) {
          throw new FieldlineError(
            ErrorCode.RATE_LIMITED,
            `device ${deviceId} has ${open} commands not done yet (at most ${COMMAND_LIMITS.maxOpenPerDevice})`,
            { retryAfterMs: 1000 },
          );
        }
        const at = this.now();
        const command = newCommand(deviceId, req, createdBy, at, await this.repo.nextSeq(deviceId, trx));
        const collapsed: StoredCommand[] = [];
        if (command.collapseKey !== null) {
          for (const old of await this.repo.ofDevice(deviceId, ['queued'], trx)) {
            if (old.collapseKey !== command.collapseKey) continue;
            const change = transition(old, { kind: 'collapse', at, by: command.id });
            if (change && (await this.repo.apply(old.id, old.status, change, trx)))
              collapsed.push(applied(old, change));
          }
        }
        await this.repo.insert(command, trx);
        return { command, created: true, collapsed };
      });
      for (const c of collapsed) this.changed(c);
      if (created) {
        this.changed(command);
        await this.pump(deviceId);
      }
      return { command: publicCommand((await this.repo.get(command.id)) ?? command), created };
    });
  }

  async get(deviceId: string, id: string): Promise<Command> {
    const c = await this.repo.get(id);
    if (!c || c.deviceId !== deviceId)
      throw new FieldlineError(ErrorCode.NOT_FOUND, `no command ${id} for device ${deviceId}`);
    return publicCommand(c);
  }

  async list(deviceId: string, status: CommandStatus | undefined, limit: number): Promise<Command[]> {
    return (await this.repo.list(deviceId, status, limit)).map(publicCommand);
  }

  /** Cancels a command that is not final (CONFLICT when it is). A device that has it already may still run it. */
  cancel(deviceId: string, id: string): Promise<Command> {
    return this.serial(deviceId, async () => {
      const c = await this.repo.get(id);
      if (!c || c.deviceId !== deviceId)
        throw new FieldlineError(ErrorCode.NOT_FOUND, `no command ${id} for device ${deviceId}`);
      if (isFinalCommandStatus(c.status)) {
        throw new FieldlineError(ErrorCode.CONFLICT, `command ${id} is already ${c.status}`, { status: c.status });
      }
      const next = await this.applyEvent(c, { kind: 'cancel', at: this.now() });
      await this.pump(deviceId);
      return publicCommand(next);
    });
  }

  /** The command once final, or as it is after `ms`. */
  async waitFinal(command: Command, ms: number): Promise<Command> {
    if (isFinalCommandStatus(command.status) || ms <= 0) return command;
    return new Promise<Command>((resolve) => {
      let set = this.waiters.get(command.id);
      if (!set) this.waiters.set(command.id, (set = new Set()));
      const settle = (c: Command): void => {
        clearTimeout(timer);
        set.delete(done);
        if (set.size === 0) this.waiters.delete(command.id);
        resolve(c);
      };
      const done = (c?: Command): void => {
        if (c) return settle(c);
        this.repo.get(command.id).then(
          (now) => settle(now ? publicCommand(now) : command),
          () => settle(command),
        );
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      // It may have ended between the caller's read and now.
      this.repo.get(command.id).then(
        (c) => c && isFinalCommandStatus(c.status) && done(publicCommand(c)),
        () => undefined,
      );
    });
  }

  // --- what the transports report (DeviceEventsListener) ---

  connected(deviceId: string): void {
    void this.serial(deviceId, async () => {
      // Written to a connection that is gone and never acknowledged: this connection gets it again, first.
      for (const c of await this.repo.ofDevice(deviceId, ['sent']))
        await this.applyEvent(c, { kind: 'lost', at: this.now() });
      await this.pump(deviceId);
    });
  }

  commandAck(deviceId: string, commandId: string): void {
    void this.serial(deviceId, () => this.onDevice(deviceId, commandId, { kind: 'ack', at: this.now() }));
  }

  commandReply(deviceId: string, commandId: string, reply: DeviceCommandReply): void {
    const at = this.now();
    const event: CommandEvent =
      reply.status === 'delivered'
        ? { kind: 'ack', at }
        : {
            kind: 'result',
            at,
            status: reply.status,
            result: reply.result,
            ...(reply.error
              ? { error: { code: reply.error.code ?? 'DEVICE_ERROR', message: reply.error.message } }
              : {}),
          };
    void this.serial(deviceId, () => this.onDevice(deviceId, commandId, event));
  }

  private async onDevice(deviceId: string, commandId: string, event: CommandEvent): Promise<void> {
    const c = await this.repo.get(commandId);
    // Another device's command id answers nothing: a device speaks only for itself.
    if (!c || c.deviceId !== deviceId) return;
    const next = await this.applyEvent(c, event);
    if (next.status !== c.status) await this.pump(deviceId);
  }

  /** Timeouts and expiries that fell due. */
  async sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    try {
      const { timedOut, expired } = await this.repo.due(this.now());
      const work: Promise<unknown>[] = [];
      for (const [list, kind] of [
        [expired, 'expire'],
        [timedOut, 'timeout'],
      ] as const) {
        for (const due of list) {
          work.push(
            this.serial(due.deviceId, async () => {
              const c = await this.repo.get(due.id);
              if (!c) return;
              const next = await this.applyEvent(c, { kind, at: this.now() });
              if (next.status !== c.status) await this.pump(c.deviceId);
            }),
          );
        }
      }
      await Promise.allSettled(work);
    } catch (err) {
      this.log.warn(`commands: sweep failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      this.sweeping = false;
    }
  }

  /** Sends the device's next queued commands while fewer than `inFlightPerDevice` are out. Runs in its queue. */
  private async pump(deviceId: string): Promise<void> {
    for (;;) {
      if (this.stopped) return;
      if ((await this.repo.ofDevice(deviceId, IN_FLIGHT)).length >= this.opts.inFlightPerDevice) return;
      const [next] = await this.repo.ofDevice(deviceId, ['queued']);
      if (!next) return;
      const at = this.now();
      if (next.expiresAt <= at) {
        await this.applyEvent(next, { kind: 'expire', at });
        continue;
      }
      const delivery: CommandDelivery = {
        id: next.id,
        method: next.method,
        params: next.params,
        oneWay: next.oneWay,
        deadline: Math.min(at + next.timeoutMs, next.expiresAt),
      };
      const outcome = await this.transports.send(deviceId, {
        channel: 'commands',
        name: next.method,
        payload: delivery,
      });
      if (outcome === 'offline') {
        if (next.persistent) return;
        await this.applyEvent(next, { kind: 'offline', at });
        continue;
      }
      await this.applyEvent(next, { kind: 'sent', at });
    }
  }

  /** Applies `event` if it changes `c` and nobody changed `c` first; the command as stored after. */
  private async applyEvent(c: StoredCommand, event: CommandEvent): Promise<StoredCommand> {
    const change = transition(c, event);
    if (!change) return c;
    if (!(await this.repo.apply(c.id, c.status, change))) return (await this.repo.get(c.id)) ?? c;
    const next = applied(c, change);
    this.changed(next);
    return next;
  }

  private changed(c: StoredCommand): void {
    const out = publicCommand(c);
    for (const fn of this.listeners) fn(out);
    if (isFinalCommandStatus(c.status)) for (const done of [...(this.waiters.get(c.id) ?? [])]) done(out);
  }

  /** Runs `fn` after everything queued for the device before it. */
  private serial<T>(deviceId: string, fn: () => Promise<T>): Promise<T> {
    const tail = this.chains.get(deviceId) ?? Promise.resolve();
    const run = tail.then(fn);
    const settled = run.then(
      () => undefined,
      (err: unknown) => {
        if (!(err instanceof FieldlineError))
          this.log.warn(`commands ${deviceId}: ${err instanceof Error ? err.message : String(err)}`);
      },
    );
    this.chains.set(deviceId, settled);
    void settled.then(() => {
      if (this.chains.get(deviceId) === settled) this.chains.delete(deviceId);
    });
    return run;
  }
}

function newCommand(
  deviceId: string,
  req: ReturnType<typeof CommandRequestSchema.parse>,
  createdBy: string | null,
  at: number,
  seq: number,
): StoredCommand {
  return {
    id: randomUUID(),
    deviceId,
    seq,
    method: req.method,
    params: req.params ?? null,
    oneWay: req.oneWay,
    persistent: req.persistent,
    timeoutMs: req.timeoutMs ?? COMMAND_LIMITS.defaultTimeoutMs,
    retries: req.persistent ? (req.retries ?? COMMAND_LIMITS.defaultRetries) : 0,
    attempts: 0,
    expiresAt: at + (req.ttlMs ?? COMMAND_LIMITS.defaultTtlMs),
    idempotencyKey: req.idempotencyKey ?? null,
    collapseKey: req.collapseKey ?? null,
    status: 'queued',
    result: null,
    error: null,
    createdBy,
    createdAt: at,
    sentAt: null,
    deliveredAt: null,
    completedAt: null,
    deadline: null,
    updatedAt: at,
  };
}

export type { CommandRequest };
