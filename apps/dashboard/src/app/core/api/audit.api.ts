import { HttpClient, HttpParams } from '@angular/common/http';
import { inject, Injectable } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import type { AuditPage, AuditParams } from '@fieldline/contracts';
import { AUDIT_PATH } from '@fieldline/contracts/audit';

/** The audit log of the gateway (admins): `GET /api/audit`, newest first. */
@Injectable({ providedIn: 'root' })
export class AuditApi {
  private readonly http = inject(HttpClient);

  /** One page; empty parameters are left out. */
  page(params: AuditParams): Promise<AuditPage> {
    let p = new HttpParams();
    for (const [k, v] of Object.entries(params) as [string, string | undefined][])
      if (v !== undefined && v !== '') p = p.set(k, v);
    return firstValueFrom(this.http.get<AuditPage>(AUDIT_PATH, { params: p }));
  }
}
