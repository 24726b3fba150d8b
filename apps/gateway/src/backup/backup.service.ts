import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import {
  type BackupManifest,
  type BackupResponse,
  BackupFile,
  ErrorCode,
  errorMessage,
  FieldlineError,
} from '@fieldline/contracts';
import { sql } from 'kysely';
import { DuckDbStore } from '../storage/duckdb.store';
import type { TelemetryStore } from '../storage/store';
import type { WriteBuffer } from '../storage/write-buffer';
import { SqliteStateStore } from '../state/sqlite.state-store';
import { MIGRATION_TABLE } from '../state/state.migrations';
import type { StateStore } from '../state/state.store';

/** Suffix of the directory a backup is written into before it is renamed to its own: a named one is complete. */
const PARTIAL = '.partial';

/** A directory name for a backup taken at `at`: sorts by time, no `:` (Windows, scp). */
const stamp = (at: number): string =>
  new Date(at)
    .toISOString()
    .replace(/:/g, '-')
    .replace(/\.\d+Z$/, 'Z');

/**
 * Online backup of embedded mode: the state store (SQLite online backup) and the readings (DuckDB snapshot copy),
 * after a flush of the write buffer, so that every reading acknowledged before the request is in the copy, the
 * spool need not be copied, and a restore is "stop, copy the two files back, start" (docs/backup.md). With
 * DATABASE_URL or INFLUX_URL the data lives in servers with backup tools of their own (pg_dump, influxd backup).
 */
export class BackupService {
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly state: StateStore,
    private readonly store: TelemetryStore,
    private readonly buffer: WriteBuffer,
    /** Backups are written under this directory only. */
    private readonly root: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes a backup into `dir` (inside the root; default a new timestamped directory). One at a time. */
  async backup(dir: unknown): Promise<BackupResponse> {
    const state = this.state;
    const store = this.store;
    if (!(state instanceof SqliteStateStore) || !(store instanceof DuckDbStore))
      throw new FieldlineError(
        ErrorCode.INVALID_REQUEST,
        'online backups cover embedded mode (SQLite state, DuckDB readings); back up PostgreSQL with pg_dump and ' +
          'InfluxDB with influxd backup',
      );
    const startedAt = this.now();
    const target = this.targetOf(dir, startedAt);
    if (this.running) throw new FieldlineError(ErrorCode.CONFLICT, 'a backup is being taken; retry when it is done');
    const run = this.take(state, store, target, startedAt);
    const done = (): void => void (this.running = null);
    // Its own chain, handled: the caller gets the rejection, an unhandled copy would stop the process.
    this.running = run.then(done, done);
    return run;
  }

  private targetOf(dir: unknown, at: number): string {
    if (dir !== undefined && (typeof dir !== 'string' || dir.length === 0 || dir.length > 1024))
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'dir must be a non-empty path');
    const target = dir === undefined ? join(this.root, stamp(at)) : resolve(this.root, dir);
    const rel = relative(this.root, target);
    if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
      throw new FieldlineError(ErrorCode.INVALID_REQUEST, `dir must lie inside BACKUP_DIR (${this.root})`, {
        backupDir: this.root,
      });
    return target;
  }

  private async take(
    state: SqliteStateStore,
    store: DuckDbStore,
    target: string,
    startedAt: number,
  ): Promise<BackupResponse> {
    if (!(await isEmptyOrMissing(target)))
      throw new FieldlineError(ErrorCode.CONFLICT, `${target} exists and is not empty; pick another dir`);
    // Everything acknowledged so far reaches DuckDB first: the copy then holds it, and what the spool holds need
    // not be copied (it is what arrives after the request; a restore starts with an empty spool).
    const before = this.buffer.stats();
    try {
      await this.buffer.flush();
    } catch (err) {
      throw new FieldlineError(
        ErrorCode.STORE_UNAVAILABLE,
        `buffered readings could not be written to the store (${errorMessage(err)}); no backup taken, retry later`,
      );
    }
    const flushed = this.buffer.stats().written - before.written;
    const partial = target + PARTIAL;
    await rm(partial, { recursive: true, force: true });
    await mkdir(partial, { recursive: true });
    try {
      await state.backup(join(partial, BackupFile.state));
      await store.backup(join(partial, BackupFile.readings));
      const applied = await sql<{ name: string }>`select name from ${sql.table(MIGRATION_TABLE)} order by name`.execute(
        state.db,
      );
      const migrations = applied.rows.map((r) => r.name);
      const files: BackupManifest['files'] = [];
      for (const name of [BackupFile.state, BackupFile.readings])
        files.push({ name, bytes: (await stat(join(partial, name))).size });
      const manifest: BackupManifest = { startedAt, finishedAt: this.now(), flushed, migrations, files };
      await writeFile(join(partial, BackupFile.manifest), JSON.stringify(manifest, null, 2) + '\n');
      await rm(target, { recursive: true, force: true });
      await rename(partial, target);
      return { dir: target, ...manifest };
    } catch (err) {
      await rm(partial, { recursive: true, force: true });
      throw err;
    }
  }
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  try {
    return (await readdir(dir)).length === 0;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
}
