import type { ErrorCode } from '@fieldline/contracts';

/** The transports a reading can arrive on. */
export type Transport = 'mqtt' | 'ws' | 'http';
export const TRANSPORTS: readonly Transport[] = ['mqtt', 'ws', 'http'];

/** Counters of the ingest path, exported at /metrics. Plain numbers: counting must cost nothing on the hot path. */
export class IngestStats {
  readonly messages: Record<Transport, number> = { mqtt: 0, ws: 0, http: 0 };
  readonly accepted: Record<Transport, number> = { mqtt: 0, ws: 0, http: 0 };
  /** Refused readings or messages, by transport and code. */
  readonly rejected: Record<Transport, Map<ErrorCode, number>> = { mqtt: new Map(), ws: new Map(), http: new Map() };
  /** Readings a device sent again (same seq and ts, recently accepted): acked, not stored or fanned out again. */
  duplicates = 0;

  reject(transport: Transport, code: ErrorCode, n = 1): void {
    const m = this.rejected[transport];
    m.set(code, (m.get(code) ?? 0) + n);
  }

  rejectedTotal(transport?: Transport): number {
    let n = 0;
    for (const t of transport ? [transport] : TRANSPORTS) for (const v of this.rejected[t].values()) n += v;
    return n;
  }
}
