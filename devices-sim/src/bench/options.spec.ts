import { parseBenchArgs, SCENARIOS } from './options';

describe('parseBenchArgs', () => {
  it('defaults to every scenario at full size', () => {
    const o = parseBenchArgs([])!;
    expect(o.scenarios).toEqual([...SCENARIOS]);
    expect(o.quick).toBe(false);
    expect(o.ingest.rates[0]).toBe(5000);
    expect(o.ingest.qos).toBe(1);
    expect(o.fanout.sockets).toEqual([100, 1000, 5000]);
    expect(o.history.days).toBe(30);
    expect(o.outDir).toBe('bench-results');
  });

  it('has a quick mode with small rates and a short history', () => {
    const o = parseBenchArgs(['--quick'])!;
    expect(Math.max(...o.ingest.rates)).toBeLessThanOrEqual(5000);
    expect(o.history.days).toBeLessThan(30);
    expect(o.fanout.sockets.every((n) => n <= 500)).toBe(true);
  });

  it('reads flags', () => {
    const o = parseBenchArgs(
      '--scenario ingest,history --rates 20000,10000 --step-seconds 2 --qos 0 --sustain 60 --profile --gateway-env LIVE_TICK_MS=5,WRITE_BATCH=20000'.split(
        ' ',
      ),
    )!;
    expect(o.scenarios).toEqual(['ingest', 'history']);
    expect(o.ingest).toMatchObject({ rates: [10_000, 20_000], stepS: 2, qos: 0, sustainS: 60 });
    expect(o.profile).toBe(true);
    expect(o.gatewayEnv).toEqual({ LIVE_TICK_MS: '5', WRITE_BATCH: '20000' });
    // The relay coalesces like the gateway it is compared with.
    expect(o.liveTickMs).toBe(5);
  });

  it('answers --help with null and refuses bad arguments', () => {
    expect(parseBenchArgs(['--help'])).toBeNull();
    for (const args of [
      ['--scenario', 'nope'],
      ['--rates', '1000,x'],
      ['--qos', '2'],
      ['--step-seconds', '0'],
      ['--gateway-env', 'lower=1'],
      ['--bogus'],
    ]) {
      expect(() => parseBenchArgs(args)).toThrow();
    }
  });
});
