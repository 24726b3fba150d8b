import { readFileSync } from 'node:fs';
import { availableParallelism, loadavg, totalmem } from 'node:os';

/** The machine a run came from. */
export interface MachineInfo {
  nproc: number;
  cpuModel: string;
  memGiB: number;
  node: string;
  platform: string;
}

export function machineInfo(): MachineInfo {
  let cpuModel = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = m[1].trim();
  } catch {
    // not Linux
  }
  return {
    nproc: availableParallelism(),
    cpuModel,
    memGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}

/** 1-minute load averages sampled during a run (the bench itself adds about 2 on a 2-core machine). */
export interface LoadSummary {
  before: number;
  mean: number;
  max: number;
  samples: number;
}

export class LoadSampler {
  private readonly values: number[] = [];
  private readonly before = loadavg()[0];
  private timer: NodeJS.Timeout | null = null;

  start(everyMs = 2000): this {
    this.timer = setInterval(() => this.values.push(loadavg()[0]), everyMs);
    this.timer.unref();
    return this;
  }

  /** The current 1-minute load average. */
  now(): number {
    return round2(loadavg()[0]);
  }

  summary(): LoadSummary {
    const v = this.values.length ? this.values : [loadavg()[0]];
    return {
      before: round2(this.before),
      mean: round2(v.reduce((a, b) => a + b, 0) / v.length),
      max: round2(Math.max(...v)),
      samples: v.length,
    };
  }

  stop(): LoadSummary {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    return this.summary();
  }
}

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}
