import { z } from 'zod';

/** One recorded action: who (`actor`, null when unknown), when, from where, what, on what, and whether it went through. */
export const AuditRecordSchema = z.object({
  id: z.string(),
  /** Epoch ms. */
  at: z.number().int(),
  actor: z.string().nullable(),
  action: z.string(),
  target: z.string().nullable(),
  /** The client address (through trusted proxies only). */
  from: z.string().nullable(),
  ok: z.boolean(),
  details: z.record(z.string(), z.unknown()).nullable(),
});
/** One entry of {@link AuditPage}. */
export type AuditRecord = z.infer<typeof AuditRecordSchema>;

/** `GET /api/audit` answer: `nextCursor` fetches the next (older) page; null on the last. */
export const AuditPageSchema = z.object({
  entries: z.array(AuditRecordSchema),
  nextCursor: z.string().nullable(),
});
/** `GET /api/audit` answer. */
export type AuditPage = z.infer<typeof AuditPageSchema>;
