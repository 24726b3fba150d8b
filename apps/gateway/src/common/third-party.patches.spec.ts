import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { connect } from 'mqtt';
import { WebSocket, WebSocketServer } from 'ws';
import {
  brokerPersistence,
  capMqttPacketSize,
  interceptOutgoingPackets,
  PatchError,
  rawSocketOf,
} from './third-party.patches';

/** Each patch against the installed library: these fail when an upgrade renames the private field a patch uses. */
describe('third-party patches', () => {
  it('aedes: a packet announcing more than the cap closes that client only', async () => {
    const broker = await Aedes.createBroker();
    const server = createServer((socket) => capMqttPacketSize(broker.handle(socket), 1024));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const good = connect(url, { reconnectPeriod: 0 });
    const bad = connect(url, { reconnectPeriod: 0 });
    await Promise.all([good, bad].map((c) => new Promise((r) => c.once('connect', r))));
    const badClosed = new Promise<void>((r) => bad.once('close', () => r()));
    bad.publish('t/x', Buffer.alloc(4096));
    await badClosed;
    const got = new Promise<string>((r) => good.once('message', (_t, p) => r(p.toString())));
    await good.subscribeAsync('t/ok');
    await good.publishAsync('t/ok', 'still here');
    expect(await got).toBe('still here');
    good.end(true);
    await new Promise<void>((r) => broker.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('aedes: a client without the parser field is refused loudly', () => {
    expect(() => capMqttPacketSize({} as never, 1)).toThrow(PatchError);
  });

  it('aedes: the broker persistence has the methods the session budget wraps, and they work', async () => {
    const broker = await Aedes.createBroker();
    const p = brokerPersistence(broker);
    await p.outgoingEnqueueCombi([{ clientId: 'a' }], { payload: Buffer.from('x') });
    const queued = [];
    for await (const packet of p.outgoingStream({ id: 'a' })) queued.push(packet);
    expect(queued).toHaveLength(1);
    expect(await p.outgoingClearMessageId({ id: 'a' }, queued[0])).toBeDefined();
    await new Promise<void>((r) => broker.close(() => r()));
    expect(() => brokerPersistence({} as never)).toThrow(PatchError);
  });

  it('mqtt.js: outgoing packets pass the interceptor, which may hold them', () => {
    const client = connect('mqtt://127.0.0.1:1', { manualConnect: true, reconnectPeriod: 0 });
    const seen: string[] = [];
    const send = interceptOutgoingPackets(client, (packet) => {
      seen.push(packet.cmd);
      return packet.cmd === 'puback';
    });
    expect(typeof send).toBe('function');
    (client as unknown as { _sendPacket: (p: { cmd: string; messageId: number }) => void })._sendPacket({
      cmd: 'puback',
      messageId: 1,
    });
    expect(seen).toEqual(['puback']);
  });

  it('ws: an open WebSocket exposes its TCP socket for corking', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await new Promise((r) => wss.once('listening', r));
    const opened = new Promise<WebSocket>((r) => wss.once('connection', r));
    const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`);
    const ws = await opened;
    await new Promise((r) => (client.readyState === WebSocket.OPEN ? r(null) : client.once('open', r)));
    const socket = rawSocketOf(ws);
    expect(typeof socket.cork).toBe('function');
    client.on('error', () => undefined);
    client.terminate();
    await new Promise<void>((r) => wss.close(() => r()));
    expect(() => rawSocketOf({} as WebSocket)).toThrow(PatchError);
  });
});
