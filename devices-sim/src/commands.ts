import type { CommandDelivery, DeviceCommandReply } from '@fieldline/contracts';
import { hashSeed, mulberry32 } from './sensors';

/** How simulated devices answer commands (`--command-delay`, `--command-fail`, `--command-silence`). */
export interface CommandBehaviour {
  /** Milliseconds between receiving a command and answering it. Default 0. */
  delayMs?: number;
  /** Probability that a command fails (`status: failed`, code SIM_FAILURE). Default 0. */
  failP?: number;
  /** Probability that a command gets no ack and no result at all (the gateway times it out). Default 0. */
  silenceP?: number;
  /** Seed of the decisions. Default 1. */
  seed?: number;
}

/** What the device's commands came to. */
export interface CommandTally {
  received: number;
  /** Ids received again (a retry or redelivery): answered as the first time, not run again. */
  repeated: number;
  succeeded: number;
  failed: number;
  silent: number;
}

/** Ids a device remembers, so that a resend gets the first answer: a few more than the gateway has in flight. */
const REMEMBERED = 64;

/**
 * One device's command handler, the same on every transport: decides (seeded) whether to answer, fail or keep
 * silent, waits the delay, and answers a repeated id as it answered it the first time (docs/commands.md).
 */
export class CommandResponder {
  readonly tally: CommandTally = { received: 0, repeated: 0, succeeded: 0, failed: 0, silent: 0 };
  private readonly rnd: () => number;
  private readonly answered = new Map<string, Answer>();

  constructor(
    deviceId: string,
    private readonly behaviour: CommandBehaviour = {},
  ) {
    this.rnd = mulberry32(hashSeed(behaviour.seed ?? 1, `commands:${deviceId}`));
  }

  /**
   * What the device does with `cmd`: acknowledge it at once (or keep silent), then send `reply` (null: none) after
   * {@link delayMs}.
   */
  answer(cmd: CommandDelivery): Answer {
    this.tally.received++;
    const seen = this.answered.get(cmd.id);
    if (seen !== undefined) {
      this.tally.repeated++;
      return seen;
    }
    let answer: Answer;
    if (this.rnd() < (this.behaviour.silenceP ?? 0)) {
      this.tally.silent++;
      answer = { ack: false, reply: null };
    } else if (this.rnd() < (this.behaviour.failP ?? 0)) {
      this.tally.failed++;
      answer = {
        ack: true,
        reply: { status: 'failed', error: { code: 'SIM_FAILURE', message: `simulated failure of ${cmd.method}` } },
      };
    } else {
      this.tally.succeeded++;
      const result = { method: cmd.method, params: cmd.params };
      answer = { ack: true, reply: cmd.oneWay ? null : { status: 'succeeded', result } };
    }
    this.answered.set(cmd.id, answer);
    if (this.answered.size > REMEMBERED) this.answered.delete(this.answered.keys().next().value!);
    return answer;
  }

  /** Milliseconds between the ack and the result. */
  get delayMs(): number {
    return this.behaviour.delayMs ?? 0;
  }

  /** Runs `fn` after the delay (at once without one). */
  later(fn: () => void): void {
    if (this.delayMs > 0) setTimeout(fn, this.delayMs).unref();
    else fn();
  }
}

/** A device's answer to one command. */
export interface Answer {
  ack: boolean;
  reply: DeviceCommandReply | null;
}

/** A command delivery in a payload, or null when it is not one. */
export function parseDelivery(payload: unknown): CommandDelivery | null {
  if (typeof payload !== 'object' || payload === null) return null;
  const c = payload as Partial<CommandDelivery>;
  return typeof c.id === 'string' && typeof c.method === 'string' ? (c as CommandDelivery) : null;
}
