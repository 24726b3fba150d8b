import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveMqttUrl, parseCli, statusLine, summarize, summaryText, transportErrors } from './cli';
import type { SimStats } from './simulator';

describe('parseCli', () => {
  it('has defaults', () => {
    expect(parseCli([], {})).toEqual({
      devices: 5,
      rate: 1,
      protocol: 'mqtt',
      url: 'http://127.0.0.1:3000',
      mqttUrl: 'mqtt://127.0.0.1:1883',
      qos: 1,
      batch: 1,
      prefix: 'sim-',
      seed: 1,
      connectTimeout: 10,
      json: false,
      quiet: false,
      tokens: {},
    });
  });

  it('takes device tokens from flags and a file, and admin credentials for --register', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fieldline-cli-'));
    try {
      const file = join(dir, 'tokens.json');
      writeFileSync(file, JSON.stringify({ 'sim-001': 'fld_a', 'sim-002': 'fld_b' }));
      expect(parseCli(['--tokens-file', file, '--token', 'sim-002=fld_c', '--token', 'x=y=z'], {})!.tokens).toEqual({
        'sim-001': 'fld_a',
        'sim-002': 'fld_c',
        x: 'y=z',
      });
      expect(parseCli(['--register'], { FIELDLINE_ADMIN_PASSWORD: 'pw' })!.register).toEqual({
        username: 'admin',
        password: 'pw',
      });
      expect(parseCli(['--register', '--admin-user', 'ops', '--admin-password', 'p2'], {})!.register).toEqual({
        username: 'ops',
        password: 'p2',
      });
      writeFileSync(file, '[1]');
      for (const args of [['--register'], ['--token', 'no-equals'], ['--token', '=x'], ['--tokens-file', file]]) {
        expect(() => parseCli(args, {})).toThrow();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads flags', () => {
    const c = parseCli(
      '--devices 50 --rate 2.5 --protocol ws --url http://gw:8080 --duration 60 --qos 0 --batch 10 --prefix t- --json'.split(
        ' ',
      ),
      {},
    );
    expect(c).toMatchObject({
      devices: 50,
      rate: 2.5,
      protocol: 'ws',
      url: 'http://gw:8080',
      duration: 60,
      qos: 0,
      batch: 10,
    });
    expect(c).toMatchObject({ prefix: 't-', json: true, mqttUrl: 'mqtt://gw:1883' });
  });

  it('takes URLs from the environment, deriving the broker from the gateway host', () => {
    expect(parseCli([], { FIELDLINE_URL: 'http://10.0.0.5:3000', MQTT_PORT: '1884' })).toMatchObject({
      url: 'http://10.0.0.5:3000',
      mqttUrl: 'mqtt://10.0.0.5:1884',
    });
    expect(parseCli(['--url', 'http://a:1'], { MQTT_URL: 'mqtt://broker:1883' })!.mqttUrl).toBe('mqtt://broker:1883');
    expect(parseCli(['--mqtt-url', 'mqtt://x:2'], { MQTT_URL: 'mqtt://broker:1883' })!.mqttUrl).toBe('mqtt://x:2');
    expect(parseCli([], { SIM_DEVICES: '12' })!.devices).toBe(12);
    expect(deriveMqttUrl('http://[::1]:3000')).toBe('mqtt://[::1]:1883');
  });

  it('refuses bad arguments and answers --help with null', () => {
    expect(parseCli(['--help'], {})).toBeNull();
    // How the gateway's `npm start` runs it: no time limit, no status output.
    expect(parseCli(['--duration', '0', '--quiet'], {})).toMatchObject({ quiet: true });
    expect(parseCli(['--duration', '0'], {})!.duration).toBeUndefined();
    for (const args of [
      ['--protocol', 'coap'],
      ['--devices', '0'],
      ['--devices', '1.5'],
      ['--rate', 'fast'],
      ['--duration', '-1'],
      ['--qos', '2'],
      ['--url', 'nope'],
      ['--url', 'ftp://x'],
      ['--bogus'],
    ]) {
      expect(() => parseCli(args, {})).toThrow();
    }
  });
});

describe('output', () => {
  const stats: SimStats = {
    elapsedMs: 12_345,
    running: true,
    devices: 3,
    connected: 2,
    targetRate: 30,
    rate: 29.6,
    avgRate: 29.8,
    sent: 360,
    acked: 350,
    refused: 4,
    failed: 0,
    dropped: 0,
    resent: 2,
    pending: 6,
    buffered: 0,
    errors: { MALFORMED_JSON: 4, CONNECT_FAILED: 3, NO_REPLY: 1 },
    perDevice: [],
  };

  it('counts transport errors apart from refusals', () => {
    expect(transportErrors(stats.errors)).toBe(4);
    expect(statusLine(stats)).toBe('  12.3s  devices 2/3  rate 30/s  sent 360  acked 350  refused 4  errors 4');
  });

  it('summarises as text and JSON', () => {
    const m = summarize(stats, 'ws', 3);
    expect(m).toMatchObject({ protocol: 'ws', devices: 3, connectedAtStart: 3, durationS: 12.345, achievedRate: 29.8 });
    expect(JSON.parse(JSON.stringify(m))).toEqual(m);
    expect(summaryText(m)).toContain('MALFORMED_JSON 4, CONNECT_FAILED 3, NO_REPLY 1');
  });
});
