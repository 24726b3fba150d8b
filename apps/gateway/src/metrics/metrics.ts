import { Counter, Gauge, type Registry } from 'prom-client';

export { Registry as MetricsRegistry } from 'prom-client';

/** Samples of one metric: a value without labels, or label sets with their values. */
export type Samples = number | Iterable<readonly [Record<string, string>, number]>;

interface Observed {
  name: string;
  help: string;
  /** Label names of the samples (empty for a plain value). */
  labels?: readonly string[];
  /** Read at every scrape from the component's own counters: the hot path keeps plain increments, no label hashing. */
  read: () => Samples;
}

/**
 * Registers a counter whose value is read from a component at scrape time. Components keep their counters as plain
 * fields (a `+= 1` on the hot path) and say here how they are exposed; `/metrics` renders the registry.
 */
export function observeCounter(registry: Registry, metric: Observed): void {
  new Counter({
    ...options(registry, metric),
    collect() {
      this.reset();
      apply(metric.read(), (labels, v) => this.inc(labels, v));
    },
  });
}

/** Registers a gauge read from a component at scrape time (see {@link observeCounter}). */
export function observeGauge(registry: Registry, metric: Observed): void {
  new Gauge({
    ...options(registry, metric),
    collect() {
      this.reset();
      apply(metric.read(), (labels, v) => this.set(labels, v));
    },
  });
}

function options(
  registry: Registry,
  metric: Observed,
): { name: string; help: string; labelNames: string[]; registers: Registry[] } {
  return { name: metric.name, help: metric.help, labelNames: [...(metric.labels ?? [])], registers: [registry] };
}

function apply(samples: Samples, put: (labels: Record<string, string>, v: number) => void): void {
  if (typeof samples === 'number') put({}, samples);
  else for (const [labels, v] of samples) put(labels, v);
}
