import type { MalformedKind } from '../faults';
import type { Outcome, Refusal } from '../replies';

/** One message on its way to the gateway. */
export interface OutMessage {
  payload: string | Buffer;
  /** Readings in the message (1 for a raw message). */
  count: number;
  /** `seq` of the last reading, null for a raw message. */
  seq: number | null;
  /** `performance.now()` of the latest write, for latency. */
  sentAt: number;
  /** Times written; above 1 after a resend. */
  attempts: number;
  /** `seq` of every reading in the message, in order (absent for a raw message). */
  seqs?: number[];
  /** Injected by `faults`: counted under its fault kind, not as a reading; never resent. */
  fault?: { kind: 'dup' | 'malformed'; malformed?: MalformedKind };
  /** Set for {@link SimDevice.sendRaw}: not resent, and settles the caller's promise. */
  raw?: { topic?: string; qos?: 0 | 1; settle: (answer: RawAnswer) => void };
}

/** What a raw message got back. Which fields are set depends on the transport. */
export interface RawAnswer {
  /** How the answer was counted (absent when there was none). */
  outcome?: Outcome;
  /** HTTP status. */
  status?: number;
  /** Parsed answer: the IngestReply (ws) or response body (http). */
  body?: unknown;
  /** Why no answer came (transport failure). */
  error?: string;
}

export interface RawOptions {
  /** MQTT only: publish here instead of the device's telemetry topic (e.g. another device's, to test authorization). */
  topic?: string;
  /** MQTT only: QoS of this message. */
  qos?: 0 | 1;
}

/** A device's connection to the gateway. Transports report back through a {@link TransportSink}. */
export interface Transport {
  readonly connected: boolean;
  /** True when another message may be written now (connected and within the in-flight window). */
  readonly writable: boolean;
  /** Starts connecting and keeps reconnecting; resolves true once connected, false if `timeoutMs` passes first. */
  connect(timeoutMs: number): Promise<boolean>;
  send(msg: OutMessage): void;
  /** Stops reconnecting and disconnects cleanly (MQTT: publishes `offline` first). */
  close(): Promise<void>;
  /** Cuts the connection abruptly, as a network failure would (fault injection); the transport then reconnects. */
  drop?(): void;
}

/** The transport-facing side of a device. */
export interface TransportSink {
  readonly id: string;
  connected(): void;
  disconnected(reason: string): void;
  /** The gateway answered `msg`. `raw` carries the wire answer for {@link SimDevice.sendRaw}. */
  answered(msg: OutMessage, outcome: Outcome, raw?: { status?: number; body?: unknown }): void;
  /** A refusal not tied to a written message (MQTT errors topic). */
  refusedAsync(refusal: Refusal): void;
  /**
   * No answer will come for `msgs`; `retry` puts them back at the front of the backlog. Counted once under `code`;
   * `cause` (e.g. `WS_CLOSE_1009`) is what an injected fault message is tallied under.
   */
  failed(msgs: OutMessage[], code: string, retry: boolean, cause?: string): void;
  /** The transport wrote `msgs` again itself (mqtt.js resends unacknowledged QoS 1 publishes after reconnecting). */
  rewritten?(msgs: OutMessage[]): void;
  /** Counts a transport problem not tied to a message (connect failure, abnormal close). */
  error(code: string): void;
  /** The transport has room again. */
  drained(): void;
}

/** Transport error codes (beside the gateway's own codes) that show up in `errors`. */
export const TransportError = {
  /** A connection attempt failed (refused, timed out, DNS). */
  CONNECT_FAILED: 'CONNECT_FAILED',
  /** An established connection reported an error. */
  CONNECTION_ERROR: 'CONNECTION_ERROR',
  /** The connection closed with messages unanswered (they are resent after reconnecting). */
  NO_REPLY: 'NO_REPLY',
  /** A write failed (MQTT publish error, HTTP request failure). */
  SEND_FAILED: 'SEND_FAILED',
  /** The MQTT broker refused the connection for credentials. */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** A WebSocket answer arrived with no frame waiting for one. */
  UNEXPECTED_REPLY: 'UNEXPECTED_REPLY',
} as const;

export function waitFor(check: (resolve: (ok: boolean) => void) => () => void, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      unsubscribe();
      resolve(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    const unsubscribe = check(finish);
  });
}

export function sleepMs(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
