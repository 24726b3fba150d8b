import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { WsHeartbeat } from './ws.heartbeat';

/** Just what the heartbeat uses of a `ws` connection. */
class FakeWs extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  pings = 0;
  terminated = false;
  ping(): void {
    this.pings++;
  }
  terminate(): void {
    this.terminated = true;
    this.readyState = 3;
    this.emit('close', 1006);
  }
  pong(): void {
    this.emit('pong');
  }
}

const asWs = (f: FakeWs): WebSocket => f as unknown as WebSocket;

describe('WsHeartbeat', () => {
  it('pings every connection, keeps those that answer, cuts one that does not and reports its device', () => {
    const dead: string[] = [];
    const hb = new WsHeartbeat(60_000, (id) => dead.push(id));
    const good = new FakeWs();
    const silent = new FakeWs();
    hb.track(asWs(good), 'a');
    hb.track(asWs(silent), 'b');
    hb.tick();
    expect([good.pings, silent.pings]).toEqual([1, 1]);
    good.pong();
    hb.tick();
    expect(good.terminated).toBe(false);
    expect(good.pings).toBe(2);
    expect(silent.terminated).toBe(true);
    expect(dead).toEqual(['b']);
    expect(hb.size).toBe(1);
    hb.stop();
  });

  it('a device with another connection that still answers is not reported', () => {
    const dead: string[] = [];
    const hb = new WsHeartbeat(60_000, (id) => dead.push(id));
    const first = new FakeWs();
    const second = new FakeWs();
    hb.track(asWs(first), 'a');
    hb.track(asWs(second), 'a');
    hb.tick();
    second.pong();
    hb.tick();
    expect(first.terminated).toBe(true);
    expect(dead).toEqual([]);
    hb.stop();
  });

  it('reports a device gone when its last connection closes, however it closed', () => {
    const dead: string[] = [];
    const hb = new WsHeartbeat(60_000, (id) => dead.push(id));
    const first = new FakeWs();
    const second = new FakeWs();
    hb.track(asWs(first), 'a');
    hb.track(asWs(second), 'a');
    first.emit('close', 1000);
    expect(dead).toEqual([]);
    second.emit('close', 1001);
    expect(dead).toEqual(['a']);
    hb.stop();
  });

  it('forgets closed connections and stops its timer when none is left', () => {
    const hb = new WsHeartbeat(60_000);
    const ws = new FakeWs();
    hb.track(asWs(ws), 'a');
    ws.readyState = 3;
    ws.emit('close', 1000);
    expect(hb.size).toBe(0);
    hb.tick();
    expect(ws.pings).toBe(0);
  });
});
