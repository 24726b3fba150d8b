// Preloaded into the gateway under test (`node --require probe.js main.js`) when the harness wants to see inside it
// without touching its code: event-loop delay and GC pauses, reset and read over the IPC channel per step.
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

/** What the probe reports for the window since its last reset. */
export interface ProbeReport {
  /** Event-loop delay percentiles, ms: how late a 10 ms timer fired. */
  loopP50: number;
  loopP99: number;
  loopMax: number;
  /** Milliseconds spent in GC pauses, and how many. */
  gcMs: number;
  gcCount: number;
}

/** Memory of the process after a full GC (when started with --expose-gc), bytes. */
export interface ProbeMemory {
  rss: number;
  heapUsed: number;
  external: number;
  /** False when the process could not be collected first (no --expose-gc): the figures then include garbage. */
  collected: boolean;
}

if (typeof process.send === 'function') {
  const RESOLUTION_MS = 10;
  const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  loop.enable();
  let gcMs = 0;
  let gcCount = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      gcMs += e.duration;
      gcCount++;
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  // The histogram holds whole timer intervals: the delay is what exceeds the resolution.
  const ms = (ns: number): number => Math.max(0, Math.round(ns / 1e4) / 100 - RESOLUTION_MS);
  process.on('message', (m: unknown) => {
    if (m === 'probe:reset') {
      loop.reset();
      gcMs = 0;
      gcCount = 0;
    } else if (m === 'probe:mem') {
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) gc();
      const u = process.memoryUsage();
      const mem: ProbeMemory = { rss: u.rss, heapUsed: u.heapUsed, external: u.external, collected: gc !== undefined };
      process.send!({ mem });
    } else if (typeof m === 'string' && m.startsWith('probe:snapshot:')) {
      // For looking into memory per socket by hand: `v8.writeHeapSnapshot` to the path after the prefix.
      const gc = (globalThis as { gc?: () => void }).gc;
      if (gc) gc();
      process.send!({ snapshot: writeHeapSnapshot(m.slice('probe:snapshot:'.length)) });
    } else if (m === 'probe:read') {
      const report: ProbeReport = {
        loopP50: ms(loop.percentile(50)),
        loopP99: ms(loop.percentile(99)),
        loopMax: ms(loop.max),
        gcMs: Math.round(gcMs),
        gcCount,
      };
      process.send!({ probe: report });
    }
  });
  // The IPC channel must not keep the process alive on its own: the gateway decides when it exits.
  process.channel?.unref();
}
