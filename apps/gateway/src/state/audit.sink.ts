export interface AuditEntry {
  actor: string | null;
  action: string;
  target?: string;
  from?: string;
  ok: boolean;
  details?: Record<string, unknown>;
}
export interface AuditSink {
  record(entry: AuditEntry): Promise<void>;
}
