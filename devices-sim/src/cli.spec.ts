import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deriveMqttUrl, faultsText, parseCli, statusLine, summarize, summaryText, transportErrors } from './cli';
import { emptyFaultStats } from './faults';
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
      queue: 10_000,
      backoffBaseS: 0.5,
      backoffCapS: 30,
      retryLater: true,
      drain: 0,
      tokens: {},
    });
  });

  it('reads the reliability options: queue, backoff, retry, drain, faults and the acked file', () => {
    const c = parseCli(
      [
        ...['--queue', '500', '--backoff-base', '0.1', '--backoff-cap', '5', '--no-retry', '--drain', '10'],
        ...['--faults', 'drop=0.01,skew=5s,dup=0.02,ooo=0.01,burst=0.005:50,malformed=0.01:json+type,seed=9'],
        ...['--acked-file', '/tmp/acked.json'],
      ],
      {},
    )!;
    expect(c).toMatchObject({ queue: 500, backoffBaseS: 0.1, backoffCapS: 5, retryLater: false, drain: 10 });
    expect(c.faults).toEqual({
      dropProbability: 0.01,
      skewMs: 5000,
      dup: 0.02,
      ooo: 0.01,
      burst: 0.005,
      burstSize: 50,
      malformed: 0.01,
      malformedKinds: ['json', 'type'],
      seed: 9,
    });
    expect(c.ackedFile).toBe('/tmp/acked.json');

    const dir = mkdtempSync(join(tmpdir(), 'fieldline-cli-'));
    try {
      const file = join(dir, 'scenario.json');
      writeFileSync(file, JSON.stringify({ drop: '10s', dup: 0.5, burst: '0.1:5' }));
      // The command line wins over the file, key by key.
      expect(parseCli(['--faults-file', file, '--faults', 'dup=0.1'], {})!.faults).toEqual({
        dropEveryMs: 10_000,
        dup: 0.1,
        burst: 0.1,
        burstSize: 5,
      });
      writeFileSync(file, '{"drop": true}');
      expect(() => parseCli(['--faults-file', file], {})).toThrow(/drop/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    for (const spec of ['drop', 'drop=2', 'skew=5', 'burst=0.1:0', 'malformed=0.1:xml', 'lag=0.1', 'dup=0']) {
      expect(() => parseCli(['--faults', spec], {})).toThrow(/--faults/);
    }
    expect(() => parseCli(['--backoff-base', '10', '--backoff-cap', '1'], {})).toThrow(/backoff-cap/);
    expect(() => parseCli(['--queue', '0'], {})).toThrow(/queue/);
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
    reconnects: 0,
    deferred: 0,
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
    expect(m.faults).toBeUndefined();
  });

  it('reports faults per kind with the answers they got, and the reconnects', () => {
    const faults = emptyFaultStats();
    faults.drop.injected = 3;
    faults.dup = { injected: 5, answers: { ack: 5 } };
    faults.burst = { injected: 1, readings: 50, answers: {} };
    faults.malformed = { injected: 4, answers: { MALFORMED_JSON: 3, INVALID_METRIC_VALUE: 1 } };
    const m = summarize({ ...stats, reconnects: 3, faults }, 'ws', 3, {
      faults: { dropProbability: 0.01, dup: 0.02 },
      ackedFile: 'acked.json',
    });
    expect(m).toMatchObject({ reconnects: 3, faultSpec: 'drop=0.01,dup=0.02', ackedFile: 'acked.json' });
    expect(faultsText(faults)).toBe(
      'drop 3; dup 5 (ack 5); burst 1 (50 readings); malformed 4 (MALFORMED_JSON 3, INVALID_METRIC_VALUE 1)',
    );
    expect(summaryText(m)).toContain('reconnects 3');
    expect(summaryText(m)).toContain('faults   drop=0.01,dup=0.02: drop 3; dup 5 (ack 5)');
    expect(statusLine({ ...stats, reconnects: 3 })).toContain('reconnects 3');
  });
});
