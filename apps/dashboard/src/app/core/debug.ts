import type { SeriesFeed } from './series/series-feed';

/**
 * Read-only hooks on `window.__fieldline` for the browser suite and the benchmark: the device view's current feed
 * and a count of chart draws. Nothing in the app reads them.
 */
export interface DebugHooks {
  feed: SeriesFeed | null;
  draws: number;
}

export function debugHooks(): DebugHooks {
  const g = globalThis as { __fieldline?: DebugHooks };
  return (g.__fieldline ??= { feed: null, draws: 0 });
}
