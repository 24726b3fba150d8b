import { type CpuProfile, packageOf, shortUrl, summariseProfile } from './profile';

const frame = (id: number, functionName: string, url: string, lineNumber = 0) => ({
  id,
  callFrame: { functionName, url, lineNumber },
});

describe('summariseProfile', () => {
  // Sample i lasts until sample i + 1 (timeDeltas[i + 1]), as DevTools counts it.
  const profile: CpuProfile = {
    nodes: [
      frame(1, '(root)', ''),
      frame(2, '(idle)', ''),
      frame(3, 'parse', 'file:///repo/node_modules/zod/v4/core/schemas.cjs', 1308),
      frame(4, 'ingest', 'file:///repo/dist/apps/gateway/src/ingest/ingest.pipeline.js', 25),
      frame(5, '', 'file:///repo/dist/apps/gateway/src/ingest/ingest.pipeline.js', 40),
      frame(6, '(garbage collector)', ''),
      frame(7, 'parse', 'file:///repo/node_modules/zod/v4/core/schemas.cjs', 1308),
    ],
    startTime: 0,
    endTime: 100,
    samples: [2, 3, 3, 4, 5, 6, 7, 2],
    timeDeltas: [0, 10_000, 20_000, 20_000, 10_000, 5_000, 5_000, 10_000],
  };

  it('sums self time per function and leaves idle time out of the shares', () => {
    const s = summariseProfile(profile, 'x.cpuprofile', '/repo', 10);
    expect(s.totalMs).toBe(80);
    expect(s.idleMs).toBe(10);
    // Two nodes of one function (name + script) make one row: 20 + 20 + 10 ms.
    expect(s.top[0]).toMatchObject({ name: 'parse', where: 'node_modules/zod/v4/core/schemas.cjs:1309', selfMs: 50 });
    expect(s.top[0].pct).toBeCloseTo((50 / 70) * 100, 0);
    expect(s.top.map((e) => e.name)).toEqual(['parse', 'ingest', '(anonymous)', '(garbage collector)']);
    expect(s.top.find((e) => e.name === '(anonymous)')!.where).toBe('apps/gateway/src/ingest/ingest.pipeline.js:41');
    expect(s.byPackage.map((p) => p.name)).toEqual(['zod', 'gateway', '(garbage collector)']);
  });

  it('names scripts and packages', () => {
    expect(shortUrl('file:///r/node_modules/a/node_modules/@s/p/x.js', '/r')).toBe('node_modules/@s/p/x.js');
    expect(shortUrl('file:///r/dist/libs/contracts/src/reading.js', '/r')).toBe('libs/contracts/src/reading.js');
    expect(packageOf('f', 'file:///r/node_modules/@duckdb/node-api/lib/x.js')).toBe('@duckdb/node-api');
    expect(packageOf('f', 'node:internal/timers')).toBe('node core');
    expect(packageOf('f', 'file:///r/dist/libs/contracts/src/reading.js')).toBe('contracts');
    expect(packageOf('(program)', '')).toBe('(program)');
  });
});
