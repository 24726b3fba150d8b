import { type Command, CommandErrorCode } from '@fieldline/contracts';
import { type CommandEvent, transition } from './command.lifecycle';

const base: Command = {
  id: 'c1',
  deviceId: 'd1',
  method: 'reboot',
  params: null,
  oneWay: false,
  persistent: true,
  timeoutMs: 1000,
  retries: 1,
  attempts: 0,
  expiresAt: 100_000,
  idempotencyKey: null,
  collapseKey: null,
  status: 'queued',
  result: null,
  error: null,
  createdBy: 'admin',
  createdAt: 0,
  sentAt: null,
  deliveredAt: null,
  completedAt: null,
  updatedAt: 0,
};

/** Applies events in order; an event that does not apply leaves the command as it was. */
function run(cmd: Command, ...events: CommandEvent[]): Command {
  return events.reduce<Command>((c, e) => ({ ...c, ...(transition(c, e) ?? {}) }), cmd);
}

describe('command lifecycle', () => {
  it('queued → sent → delivered → succeeded, with a time per state', () => {
    const c = run(
      base,
      { kind: 'sent', at: 10 },
      { kind: 'ack', at: 20 },
      { kind: 'result', at: 30, status: 'succeeded', result: { ok: 1 } },
    );
    expect(c).toMatchObject({ status: 'succeeded', attempts: 1, sentAt: 10, deliveredAt: 20, completedAt: 30 });
    expect(c.result).toEqual({ ok: 1 });
    expect(transition({ ...base, status: 'sent', attempts: 1 }, { kind: 'sent', at: 5 })).toBeNull();
  });

  it('a result before the ack implies delivery; a late ack and a second result change nothing', () => {
    const c = run(base, { kind: 'sent', at: 10 }, { kind: 'result', at: 15, status: 'failed' });
    expect(c).toMatchObject({ status: 'failed', deliveredAt: 15, completedAt: 15 });
    expect(c.error?.code).toBe(CommandErrorCode.DEVICE_ERROR);
    expect(transition(c, { kind: 'ack', at: 20 })).toBeNull();
    expect(transition(c, { kind: 'result', at: 20, status: 'succeeded' })).toBeNull();
  });

  it('a one-way command succeeds on its ack', () => {
    const c = run({ ...base, oneWay: true }, { kind: 'sent', at: 1 }, { kind: 'ack', at: 2 });
    expect(c).toMatchObject({ status: 'succeeded', deliveredAt: 2, completedAt: 2 });
  });

  it('a persistent command that times out goes back to the queue until its retries run out', () => {
    let c = run(base, { kind: 'sent', at: 0 }, { kind: 'timeout', at: 1000 });
    expect(c).toMatchObject({ status: 'queued', attempts: 1, completedAt: null });
    c = run(c, { kind: 'sent', at: 1001 }, { kind: 'ack', at: 1002 }, { kind: 'timeout', at: 2001 });
    expect(c).toMatchObject({ status: 'timed_out', attempts: 2, completedAt: 2001 });
    expect(c.error?.code).toBe(CommandErrorCode.TIMED_OUT);
  });

  it('a command that is not persistent times out at once and fails at once when the device is offline', () => {
    const once = { ...base, persistent: false, retries: 0 };
    expect(run(once, { kind: 'sent', at: 0 }, { kind: 'timeout', at: 1000 }).status).toBe('timed_out');
    const off = run(once, { kind: 'offline', at: 3 });
    expect(off).toMatchObject({ status: 'failed', completedAt: 3 });
    expect(off.error?.code).toBe(CommandErrorCode.DEVICE_OFFLINE);
    expect(transition(base, { kind: 'offline', at: 3 })).toBeNull();
  });

  it('no retry past the expiry; expiry only once it passed', () => {
    const c = run({ ...base, expiresAt: 500 }, { kind: 'sent', at: 0 }, { kind: 'timeout', at: 1000 });
    expect(c.status).toBe('timed_out');
    expect(transition(base, { kind: 'expire', at: 99_999 })).toBeNull();
    expect(run(base, { kind: 'expire', at: 100_000 })).toMatchObject({ status: 'expired', completedAt: 100_000 });
  });

  it('a result after a timeout put it back in the queue still ends it', () => {
    const c = run(
      base,
      { kind: 'sent', at: 0 },
      { kind: 'timeout', at: 1000 },
      { kind: 'result', at: 1100, status: 'succeeded' },
    );
    expect(c.status).toBe('succeeded');
    expect(transition(base, { kind: 'result', at: 1, status: 'succeeded' })).toBeNull();
  });

  it('a lost connection puts a sent command back in the queue; a delivered one waits', () => {
    expect(run(base, { kind: 'sent', at: 0 }, { kind: 'lost', at: 1 }).status).toBe('queued');
    expect(run(base, { kind: 'sent', at: 0 }, { kind: 'ack', at: 1 }, { kind: 'lost', at: 2 }).status).toBe(
      'delivered',
    );
  });

  it('cancel ends any command not final; collapse only a queued one', () => {
    expect(run(base, { kind: 'sent', at: 0 }, { kind: 'cancel', at: 1 }).status).toBe('cancelled');
    const collapsed = run(base, { kind: 'collapse', at: 1, by: 'c2' });
    expect(collapsed).toMatchObject({ status: 'cancelled', error: { code: CommandErrorCode.COLLAPSED } });
    expect(transition({ ...base, status: 'sent' }, { kind: 'collapse', at: 1, by: 'c2' })).toBeNull();
    for (const status of ['succeeded', 'failed', 'rejected', 'timed_out', 'expired', 'cancelled'] as const)
      expect(transition({ ...base, status }, { kind: 'cancel', at: 1 })).toBeNull();
  });
});
