import { CommandErrorCode, type Command, type CommandError, isFinalCommandStatus } from '@fieldline/contracts';

/** What can happen to a command. Each is applied by {@link transition}; one that does not apply changes nothing. */
export type CommandEvent =
  | { kind: 'sent'; at: number }
  | { kind: 'offline'; at: number }
  | { kind: 'lost'; at: number }
  | { kind: 'ack'; at: number }
  | { kind: 'result'; at: number; status: 'succeeded' | 'failed' | 'rejected'; result?: unknown; error?: CommandError }
  | { kind: 'timeout'; at: number }
  | { kind: 'expire'; at: number }
  | { kind: 'cancel'; at: number }
  | { kind: 'collapse'; at: number; by: string };

/** The fields an event changes. */
export type CommandChange = Partial<
  Pick<Command, 'status' | 'attempts' | 'sentAt' | 'deliveredAt' | 'completedAt' | 'result' | 'error' | 'updatedAt'> & {
    deadline: number | null;
  }
>;

/**
 * The lifecycle, as one pure function: the change `event` makes to `cmd`, or null when it does not apply (an ack
 * for a command already done, a second result, a cancel of a final command). The store applies a change only if
 * the status is still the one it was computed from, so two nodes or two events never both win.
 */
export function transition(cmd: Command, event: CommandEvent): CommandChange | null {
  const { at } = event;
  const final = (status: Command['status'], extra: CommandChange = {}): CommandChange => ({
    status,
    completedAt: at,
    deadline: null,
    updatedAt: at,
    ...extra,
  });
  if (isFinalCommandStatus(cmd.status)) return null;
  switch (event.kind) {
    case 'sent':
      if (cmd.status !== 'queued') return null;
      return {
        status: 'sent',
        attempts: cmd.attempts + 1,
        sentAt: at,
        deliveredAt: null,
        deadline: at + cmd.timeoutMs,
        updatedAt: at,
      };
    case 'offline':
      // Not persistent: the caller asked for now or never.
      if (cmd.status !== 'queued' || cmd.persistent) return null;
      return final('failed', {
        error: { code: CommandErrorCode.DEVICE_OFFLINE, message: `device ${cmd.deviceId} is not connected` },
      });
    case 'lost':
      // The connection it was written to closed before the device acknowledged it: send it again on the next one.
      if (cmd.status !== 'sent') return null;
      return { status: 'queued', deadline: null, updatedAt: at };
    case 'ack':
      if (cmd.status !== 'sent') return null;
      if (cmd.oneWay) return final('succeeded', { deliveredAt: at });
      return { status: 'delivered', deliveredAt: at, updatedAt: at };
    case 'result': {
      // A result before the ack implies delivery; after a timeout sent it back to the queue, the device did run it.
      if (cmd.status === 'queued' && cmd.attempts === 0) return null;
      const deliveredAt = cmd.deliveredAt ?? at;
      if (event.status === 'succeeded') return final('succeeded', { deliveredAt, result: event.result ?? null });
      const error = event.error ?? {
        code: CommandErrorCode.DEVICE_ERROR,
        message: `the device answered ${event.status}`,
      };
      return final(event.status, { deliveredAt, error });
    }
    case 'timeout': {
      if (cmd.status !== 'sent' && cmd.status !== 'delivered') return null;
      const retry = cmd.persistent && cmd.attempts <= cmd.retries && at < cmd.expiresAt;
      if (retry) return { status: 'queued', deadline: null, updatedAt: at };
      return final('timed_out', {
        error: {
          code: CommandErrorCode.TIMED_OUT,
          message: `no result within ${cmd.timeoutMs} ms after ${cmd.attempts} attempt(s)`,
        },
      });
    }
    case 'expire':
      if (at < cmd.expiresAt) return null;
      return final('expired', {
        error: { code: CommandErrorCode.EXPIRED, message: `not done by ${new Date(cmd.expiresAt).toISOString()}` },
      });
    case 'cancel':
      return final('cancelled');
    case 'collapse':
      if (cmd.status !== 'queued') return null;
      return final('cancelled', {
        error: { code: CommandErrorCode.COLLAPSED, message: `replaced by command ${event.by}` },
      });
  }
}
