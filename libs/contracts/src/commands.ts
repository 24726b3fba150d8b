import { z } from 'zod';
import { DEVICE_ID_PATTERN } from './limits';
import { SHARED_GROUP } from './topics';

/*
 * Commands (RPC) from operators to one device: the request operators send, the stored command with its lifecycle,
 * and the frames and topics a device answers on. docs/commands.md is the firmware author's guide.
 */

/**
 * Where a command is in its lifecycle. `queued` → `sent` (written to the device's connection) → `delivered` (the
 * device's own ack: MQTT PUBACK or a WebSocket `command_ack`) → `succeeded` | `failed` | `rejected` (the device's
 * result); or `timed_out`, `expired`, `cancelled`. A result that arrives before the ack implies delivery.
 */
export const COMMAND_STATUSES = [
  'queued',
  'sent',
  'delivered',
  'succeeded',
  'failed',
  'rejected',
  'timed_out',
  'expired',
  'cancelled',
] as const;
/** One of {@link COMMAND_STATUSES}. */
export type CommandStatus = (typeof COMMAND_STATUSES)[number];
/** Statuses a command never leaves: all but the first three. */
export const FINAL_COMMAND_STATUSES: readonly CommandStatus[] = COMMAND_STATUSES.slice(3);
/** Whether `status` is final. */
export const isFinalCommandStatus = (status: CommandStatus): boolean => FINAL_COMMAND_STATUSES.includes(status);

/** Why a command failed, timed out or expired without a device's own answer (`Command.error.code`). */
export const CommandErrorCode = {
  /** Not persistent, and the device held no connection to this node when it was posted (or when it was due). */
  DEVICE_OFFLINE: 'DEVICE_OFFLINE',
  /** No result within `timeoutMs` of being sent, and no retry left (or not persistent). */
  TIMED_OUT: 'TIMED_OUT',
  /** `expiresAt` passed before the command was done. */
  EXPIRED: 'EXPIRED',
  /** A newer command with the same collapse key replaced this queued one. */
  COLLAPSED: 'COLLAPSED',
  /** The device's own error (a `failed` or `rejected` result without a code of its own). */
  DEVICE_ERROR: 'DEVICE_ERROR',
} as const;
/** One of {@link CommandErrorCode}, or a code the device sent. */
export type CommandErrorCode = (typeof CommandErrorCode)[keyof typeof CommandErrorCode];

/** Bounds of a command's fields (documented in docs/commands.md). */
export const COMMAND_LIMITS = {
  /** `timeoutMs`: how long after being sent the device has to answer (default 10 s). */
  minTimeoutMs: 100,
  maxTimeoutMs: 300_000,
  defaultTimeoutMs: 10_000,
  /** `ttlMs`: how long the command may wait, queued or retried, before it expires (default 1 h). */
  minTtlMs: 1_000,
  maxTtlMs: 30 * 24 * 3_600_000,
  defaultTtlMs: 3_600_000,
  /** `retries`: how many more sends a persistent command gets after a timeout (default 3). */
  maxRetries: 10,
  defaultRetries: 3,
  /** Bytes of `params` as JSON. */
  maxParamsBytes: 16 * 1024,
  /** Bytes of a device's reply as JSON (plus 1 KiB); a larger one is refused (MESSAGE_TOO_LARGE). */
  maxResultBytes: 16 * 1024,
  /** `wait`: at most this long a `POST` holds the request open for the result. */
  maxWaitMs: 60_000,
  /** Commands of one device that are not final (queued, sent, delivered); one more is refused (RATE_LIMITED). */
  maxOpenPerDevice: 1000,
} as const;

/** A method name: the last MQTT topic level (`devices/<id>/commands/<method>`). */
export const COMMAND_METHOD_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
const KEY_PATTERN = /^[\x21-\x7e]{1,128}$/;

/** Body of `POST /api/devices/:id/commands`. */
export const CommandRequestSchema = z
  .object({
    method: z.string().regex(COMMAND_METHOD_PATTERN).describe('1–64 of A-Z a-z 0-9 _ . -'),
    params: z.unknown().optional().describe('any JSON; sent to the device as is'),
    oneWay: z.boolean().default(false).describe('no result expected: succeeded once delivered'),
    persistent: z.boolean().default(true).describe('queued while the device is offline (else failed at once)'),
    timeoutMs: z.number().int().min(COMMAND_LIMITS.minTimeoutMs).max(COMMAND_LIMITS.maxTimeoutMs).optional(),
    ttlMs: z.number().int().min(COMMAND_LIMITS.minTtlMs).max(COMMAND_LIMITS.maxTtlMs).optional(),
    retries: z.number().int().min(0).max(COMMAND_LIMITS.maxRetries).optional(),
    idempotencyKey: z.string().regex(KEY_PATTERN).optional().describe('per device: a retried POST returns the first'),
    collapseKey: z.string().regex(KEY_PATTERN).optional().describe('replaces a queued command with the same key'),
  })
  .strict();
/** A command as an operator posts it. */
export type CommandRequest = z.input<typeof CommandRequestSchema>;

/** What went wrong, from the gateway ({@link CommandErrorCode}) or the device (its own code). */
export interface CommandError {
  code: string;
  message: string;
}

/** A command as stored and shown (REST, Socket.IO). Times are epoch ms; null until the command got there. */
export interface Command {
  id: string;
  deviceId: string;
  method: string;
  params: unknown;
  oneWay: boolean;
  persistent: boolean;
  timeoutMs: number;
  retries: number;
  /** Sends so far (a persistent command that timed out is sent again while retries last). */
  attempts: number;
  expiresAt: number;
  idempotencyKey: string | null;
  collapseKey: string | null;
  status: CommandStatus;
  result: unknown;
  error: CommandError | null;
  createdBy: string | null;
  createdAt: number;
  sentAt: number | null;
  deliveredAt: number | null;
  /** When it became final. */
  completedAt: number | null;
  updatedAt: number;
}

/** REST paths of commands. */
export const CommandPath = {
  /** `POST` ({@link CommandRequest}, `?wait=<ms>`) → {@link Command}; `GET` (`?status=`, `?limit=`) → Command[]. */
  commands: '/api/devices/:id/commands',
  /** `GET` → {@link Command}. */
  command: '/api/devices/:id/commands/:commandId',
  /** `POST` cancels a command that is not final → {@link Command}. */
  cancel: '/api/devices/:id/commands/:commandId/cancel',
} as const;
export const commandsPath = (deviceId: string): string => `/api/devices/${encodeURIComponent(deviceId)}/commands`;
export const commandPath = (deviceId: string, commandId: string): string =>
  `${commandsPath(deviceId)}/${encodeURIComponent(commandId)}`;
export const cancelCommandPath = (deviceId: string, commandId: string): string =>
  `${commandPath(deviceId, commandId)}/cancel`;

/** Query of the command list. */
export const CommandListQuerySchema = z.object({
  status: z.enum(COMMAND_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

/** What the device receives: payload of `devices/<id>/commands/<method>` and of the WebSocket `message` frame. */
export interface CommandDelivery {
  id: string;
  method: string;
  params: unknown;
  /** No result expected. */
  oneWay: boolean;
  /** Epoch ms after which the gateway no longer waits for an answer. */
  deadline: number;
}

/** How a device ends a command. */
export const DEVICE_RESULT_STATUSES = ['succeeded', 'failed', 'rejected'] as const;

/**
 * A device's answer to a command: MQTT payload of `devices/<id>/results/<commandId>`, or a WebSocket frame with
 * `type: 'command_result'` and `id`. `status: 'delivered'` is an ack alone (for brokers that do not tell the gateway
 * of a PUBACK). `error` for failed and rejected, `result` for succeeded.
 */
export const DeviceCommandReplySchema = z.object({
  status: z.enum(['delivered', ...DEVICE_RESULT_STATUSES]),
  result: z.unknown().optional(),
  error: z.object({ code: z.string().min(1).max(64).optional(), message: z.string().max(1024) }).optional(),
});
/** A device's answer to a command. */
export type DeviceCommandReply = z.infer<typeof DeviceCommandReplySchema>;

/** WebSocket frame types a device sends about commands (on its `/ingest` connection). */
export const CommandFrameType = {
  /** `{type: 'command_ack', id}`: the command arrived. */
  ack: 'command_ack',
  /** `{type: 'command_result', id, status, result?, error?}`: the command's outcome. */
  result: 'command_result',
} as const;

/** The topic a device answers a command on (QoS 1): `devices/<id>/results/<commandId>`. */
export const commandResultTopic = (deviceId: string, commandId: string): string =>
  `devices/${deviceId}/results/${commandId}`;

/** Every device's command results: what a gateway node takes from an external broker, shared among the nodes. */
export const SHARED_COMMAND_RESULTS_FILTER = `$share/${SHARED_GROUP}/devices/+/results/+`;

/** Parses `devices/<id>/results/<commandId>` (null for any other topic). */
export function parseCommandResultTopic(topic: string): { deviceId: string; commandId: string } | null {
  const m = /^devices\/([A-Za-z0-9_.-]{1,64})\/results\/([A-Za-z0-9_-]{1,64})$/.exec(topic);
  return m && DEVICE_ID_PATTERN.test(m[1]) ? { deviceId: m[1], commandId: m[2] } : null;
}

/** Socket.IO: the `/devices` namespace event carrying a command whenever it changes (to the device's room). */
export const CommandsEvent = {
  /** Server → client: {@link Command} after each change of status. */
  update: 'command',
} as const;
