import { HttpErrorResponse } from '@angular/common/http';
import { ChangeDetectionStrategy, Component, inject, signal } from '@angular/core';
import type { AuditParams, AuditRecord } from '@fieldline/contracts';
import { AuditAction } from '@fieldline/contracts/audit';
import { AuditApi } from '../../core/api/audit.api';

/** The filters of the form, as typed (times in the browser's zone, `datetime-local`). */
export interface AuditFilters {
  from: string;
  to: string;
  actor: string;
  action: string;
  target: string;
  ok: '' | 'true' | 'false';
}

export const NO_FILTERS: AuditFilters = { from: '', to: '', actor: '', action: '', target: '', ok: '' };
/** Rows per page. */
export const AUDIT_PAGE_SIZE = 50;

/** The query of a page: local times become epoch ms, empty fields are left out. */
export function auditParams(f: AuditFilters, cursor: string | null): AuditParams {
  const ms = (local: string): string | undefined => {
    const t = local === '' ? NaN : new Date(local).getTime();
    return Number.isFinite(t) ? String(t) : undefined;
  };
  const out: AuditParams = { limit: String(AUDIT_PAGE_SIZE) };
  const from = ms(f.from);
  const to = ms(f.to);
  if (from !== undefined) out.from = from;
  if (to !== undefined) out.to = to;
  for (const k of ['actor', 'action', 'target', 'ok'] as const) if (f[k].trim() !== '') out[k] = f[k].trim();
  if (cursor !== null) out.cursor = cursor;
  return out;
}

/** Details as one line: `code=CONFLICT name=Pump`. */
export function detailsText(d: Record<string, unknown> | null): string {
  if (d === null) return '';
  return Object.entries(d)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** `/audit` (admins): who did what, when and from where; filters, newest first, paged. */
@Component({
  selector: 'fl-audit',
  templateUrl: './audit.component.html',
  styleUrl: './audit.component.css',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class AuditComponent {
  private readonly api = inject(AuditApi);

  protected readonly actionChoices = ['auth.', 'device.', 'token.', ...Object.values(AuditAction)];
  protected readonly filters = signal<AuditFilters>(NO_FILTERS);
  protected readonly entries = signal<readonly AuditRecord[]>([]);
  protected readonly loading = signal(true);
  protected readonly error = signal<string | null>(null);
  /** Cursors of the pages before this one (the first page has none); the last is this page's. */
  private readonly cursors = signal<(string | null)[]>([null]);
  protected readonly next = signal<string | null>(null);
  protected readonly pageNumber = signal(1);
  private request = 0;

  constructor() {
    void this.load();
  }

  protected set(field: keyof AuditFilters, value: string): void {
    this.filters.update((f) => ({ ...f, [field]: value }));
  }

  protected apply(event?: Event): void {
    event?.preventDefault();
    this.cursors.set([null]);
    void this.load();
  }

  protected clear(): void {
    this.filters.set(NO_FILTERS);
    this.apply();
  }

  protected older(): void {
    const next = this.next();
    if (next === null) return;
    this.cursors.update((c) => [...c, next]);
    void this.load();
  }

  protected newer(): void {
    if (this.cursors().length <= 1) return;
    this.cursors.update((c) => c.slice(0, -1));
    void this.load();
  }

  protected time(at: number): string {
    return new Date(at).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
  }

  protected readonly details = detailsText;

  private async load(): Promise<void> {
    const mine = ++this.request;
    const cursors = this.cursors();
    this.loading.set(true);
    try {
      const page = await this.api.page(auditParams(this.filters(), cursors[cursors.length - 1]));
      if (mine !== this.request) return;
      this.entries.set(page.entries);
      this.next.set(page.nextCursor);
      this.pageNumber.set(cursors.length);
      this.error.set(null);
    } catch (err) {
      if (mine !== this.request) return;
      const body = err instanceof HttpErrorResponse ? (err.error as { message?: unknown } | null) : null;
      this.error.set(typeof body?.message === 'string' ? body.message : 'The audit log could not be loaded.');
    } finally {
      if (mine === this.request) this.loading.set(false);
    }
  }
}
