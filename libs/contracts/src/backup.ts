/** `POST` (admin) {@link BackupRequest} → {@link BackupResponse}: an online backup of embedded mode. */
export const BackupPath = '/api/admin/backup';

/** File names inside a backup directory (and, for the two databases, inside DATA_DIR). */
export const BackupFile = {
  /** The state store (SQLite): device registry, and later operators, audit, rules. */
  state: 'state.sqlite',
  /** The readings (DuckDB). */
  readings: 'fieldline.duckdb',
  /** What was backed up, when, and from which gateway: {@link BackupManifest}. */
  manifest: 'manifest.json',
} as const;

/** `POST /api/admin/backup` body: where to write, inside the gateway's `BACKUP_DIR`; default a new timestamped one. */
export interface BackupRequest {
  /** A directory that does not exist yet (or is empty): relative to `BACKUP_DIR`, or absolute inside it. */
  dir?: string;
}

/** The `manifest.json` of a backup. */
export interface BackupManifest {
  /** Epoch ms the request arrived: every reading acknowledged before it is in the copy. */
  startedAt: number;
  /** Epoch ms the copy was complete. */
  finishedAt: number;
  /** Readings written to the store by the flush that preceded the copy (those that were buffered or spooled). */
  flushed: number;
  /** The state store's migrations, newest last: a restore needs a gateway that knows them all. */
  migrations: string[];
  files: { name: string; bytes: number }[];
}

/** `POST /api/admin/backup` answer (201): the absolute directory written and its manifest. */
export interface BackupResponse extends BackupManifest {
  dir: string;
}
