import { z } from 'zod';
import { duration, type Env, parseSection } from './env';

/** The audit log (state/audit.log.ts). */
export interface AuditConfig {
  /** How long entries are kept (AUDIT_RETENTION), ms; older ones are purged hourly. */
  retentionMs: number;
}

const DAY_MS = 86_400_000;

const schema = z
  .object({
    AUDIT_RETENTION: duration(90 * DAY_MS, 60_000, 3650 * DAY_MS, 'a duration from 1m to 3650d such as 90d'),
  })
  .transform((e): AuditConfig => ({ retentionMs: e.AUDIT_RETENTION }));

/** `AUDIT_RETENTION`. */
export const loadAuditConfig = (env: Env): AuditConfig => parseSection(schema, env);
