import { Outbox } from './outbox';
import type { OutMessage } from './transports/transport';

const msg = (seq: number, count = 1): OutMessage => ({ payload: String(seq), count, seq, sentAt: 0, attempts: 0 });

describe('Outbox', () => {
  it('keeps at most maxReadings, dropping the oldest first but never the newest message', () => {
    const dropped: number[] = [];
    const box = new Outbox(3, (m) => dropped.push(m.seq!));
    for (let i = 1; i <= 5; i++) box.push(msg(i));
    expect(dropped).toEqual([1, 2]);
    expect(box.readings).toBe(3);
    box.push(msg(6, 10));
    expect(dropped).toEqual([1, 2, 3, 4, 5]);
    expect([box.length, box.readings]).toEqual([1, 10]);
  });

  it('puts a failed message back in front without dropping for it', () => {
    const dropped: number[] = [];
    const box = new Outbox(2, (m) => dropped.push(m.seq!));
    box.push(msg(2));
    box.push(msg(3));
    box.requeue(msg(1));
    expect(dropped).toEqual([]);
    expect([box.shift()?.seq, box.shift()?.seq, box.shift()?.seq, box.shift()]).toEqual([1, 2, 3, undefined]);
    expect(box.readings).toBe(0);
  });

  it('stays paused until the latest pause has passed', () => {
    const box = new Outbox(10, () => undefined);
    expect(box.paused(0)).toBe(false);
    box.pause(100);
    box.pause(50);
    expect(box.paused(99)).toBe(true);
    expect(box.paused(100)).toBe(false);
    expect(box.paused(0)).toBe(false);
  });
});
