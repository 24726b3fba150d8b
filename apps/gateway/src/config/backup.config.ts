import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { type Env, parseSection, text } from './env';

/** Online backups of embedded mode (`POST /api/admin/backup`, docs/backup.md). */
export interface BackupConfig {
  /** The directory backups are written under (each into one of its own); null: `DATA_DIR/backups`. */
  dir: string | null;
}

const schema = z.object({ BACKUP_DIR: text(null) }).transform((e): BackupConfig => ({
  dir: e.BACKUP_DIR === null || isAbsolute(e.BACKUP_DIR) ? e.BACKUP_DIR : resolve(e.BACKUP_DIR),
}));

/** `BACKUP_DIR`. */
export const loadBackupConfig = (env: Env): BackupConfig => parseSection(schema, env);
