import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Reading } from '@fieldline/contracts';

/**
 * Readings the store refused for good, kept for an operator: `DATA_DIR/dead-letter/<YYYY-MM-DD>.ndjson`, one line per
 * reading, `{"at": ISO time, "store": kind, "reason": message, "reading": {...}}` (a line can be fed back to HTTP
 * ingest once the cause is fixed).
 */
export class DeadLetter {
  /** Readings and batches dead-lettered since start. */
  readings = 0;
  batches = 0;

  constructor(
    private readonly dir: string,
    private readonly store: string,
  ) {}

  add(readings: readonly Reading[], reason: string): void {
    if (readings.length === 0) return;
    mkdirSync(this.dir, { recursive: true });
    const at = new Date().toISOString();
    const head = `{"at":"${at}","store":${JSON.stringify(this.store)},"reason":${JSON.stringify(reason)},"reading":`;
    let text = '';
    for (const r of readings) text += head + JSON.stringify(r) + '}\n';
    appendFileSync(join(this.dir, `${at.slice(0, 10)}.ndjson`), text);
    this.readings += readings.length;
    this.batches++;
  }
}
