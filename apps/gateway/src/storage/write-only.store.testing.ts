import type { HistoryQuery, HistoryResponse, Reading } from '@fieldline/contracts';
import type { StoredDevice, TelemetryStore } from './store';

/** Base of the in-memory stores the write-path specs use: they record writes; reads find nothing. */
export abstract class WriteOnlyTestStore implements TelemetryStore {
  abstract readonly kind: string;
  abstract write(readings: readonly Reading[]): Promise<void>;

  async init(): Promise<void> {}

  history(q: HistoryQuery): Promise<HistoryResponse> {
    return Promise.resolve({ ...q, series: [], truncated: false });
  }
  since(): Promise<Reading[]> {
    return Promise.resolve([]);
  }
  devices(): Promise<StoredDevice[]> {
    return Promise.resolve([]);
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}
