import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { boolean, bytes, checked, type Env, integer, parseSection, url, withDefault } from './env';

/** Where readings go: the store, the write buffer in front of it, and the spool on disk behind the buffer. */
export interface StorageConfig {
  /** Absolute: the embedded store file, the spool, the dead letter, the device registry and last-seen times. */
  dataDir: string;
  influx: {
    /** InfluxDB store (production mode); null: the embedded DuckDB store under `dataDir`. */
    url: string | null;
    /** Duration of the retention policy the InfluxDB store creates (`30d`, `12w`, `INF`). */
    retention: string;
  };
  writeBuffer: {
    maxBatch: number;
    flushIntervalMs: number;
    /** Readings the write buffer holds in memory at most; beyond, they wait in the spool on disk only. */
    maxPending: number;
  };
  spool: {
    /** Bytes of spool files (DATA_DIR/spool) at most; beyond, ingest answers STORE_UNAVAILABLE. */
    maxBytes: number;
    /** fdatasync every spool group commit (survives power loss, not only a process crash). */
    fsync: boolean;
  };
}

/** InfluxDB keeps data for at least an hour (or forever: INF). */
const retention = withDefault(
  '30d',
  checked((text) => {
    const r = text.trim().toLowerCase();
    if (r === 'inf') return 'INF';
    if (/^\d{1,6}[hdw]$/.test(r) && !/^0+[hdw]$/.test(r)) return r;
    return { refused: `must be a duration such as 30d, 12w, 720h, or INF; got "${text}"` };
  }),
);

const schema = z
  .object({
    DATA_DIR: withDefault('./data', z.string()),
    INFLUX_URL: url(['http:', 'https:']),
    INFLUX_RETENTION: retention,
    WRITE_BATCH: integer(5000, 1, 100_000),
    WRITE_FLUSH_MS: integer(100, 1, 60_000),
    WRITE_MAX_PENDING: integer(200_000, 1000, 10_000_000),
    SPOOL_MAX_BYTES: bytes(1024 ** 3, 1024 ** 2, 1024 ** 5),
    SPOOL_FSYNC: boolean(false),
  })
  .transform((e): StorageConfig => ({
    dataDir: isAbsolute(e.DATA_DIR) ? e.DATA_DIR : resolve(e.DATA_DIR),
    influx: { url: e.INFLUX_URL, retention: e.INFLUX_RETENTION },
    writeBuffer: { maxBatch: e.WRITE_BATCH, flushIntervalMs: e.WRITE_FLUSH_MS, maxPending: e.WRITE_MAX_PENDING },
    spool: { maxBytes: e.SPOOL_MAX_BYTES, fsync: e.SPOOL_FSYNC },
  }));

/** `DATA_DIR`, `INFLUX_URL`, `INFLUX_RETENTION`, `WRITE_BATCH`, `WRITE_FLUSH_MS`, `WRITE_MAX_PENDING`, `SPOOL_*`. */
export const loadStorageConfig = (env: Env): StorageConfig => parseSection(schema, env);
