/** What every scenario gets from the harness. */
export interface BenchContext {
  /** Progress line on stderr. */
  log: (msg: string) => void;
  /** Current 1-minute load average. */
  load1: () => number;
  /** Where `--cpu-prof` writes. */
  profileDir: string;
}
