import type { ErrorCode } from './errors';
import type { ReadingError } from './reading';

/** Path of the raw WebSocket ingest endpoint on the gateway's HTTP port. */
export const INGEST_PATH = '/ingest';

/** WebSocket close codes the gateway uses. */
export const WsCloseCode = {
  /** Authentication or policy failure. */
  policy: 1008,
  /** Frame larger than the message size limit. */
  tooBig: 1009,
  /** The gateway is shutting down: reconnect later. */
  goingAway: 1001,
  /** The device left more replies unread than `WS_REPLY_BUFFER_BYTES`: read the replies, then reconnect. */
  repliesWaiting: 4008,
} as const;

/**
 * The gateway's answer to each ingest frame. `ack` when at least one reading was accepted (a single reading's `seq`,
 * or for a batch the accepted `seqs`, with `errors` for any refused), `error` when nothing was.
 */
export type IngestReply =
  | { type: 'ack'; seq: number | null; seqs?: number[]; accepted: number; errors?: ReadingError[] }
  | { type: 'error'; seq: number | null; code: ErrorCode; message: string; details?: Record<string, unknown> };
