import { HttpClient, HttpParams } from '@angular/common/http';
import { inject, Injectable } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import type { Aggregation, HistoryResponse } from '@fieldline/contracts';
import { readingsPath } from '@fieldline/contracts/rest';

/** A history request: the server aggregates to at most `maxPoints` buckets (`bucket=auto`) unless told otherwise. */
export interface HistoryRequest {
  from: number;
  to: number;
  maxPoints: number;
  metric?: string;
  agg?: Aggregation;
  /** `auto` (default), `raw`, or a width such as `15m`, `500ms`. */
  bucket?: string;
}

/** The function shape feeds use, so that specs can hand in a fake. */
export type HistoryFetcher = (deviceId: string, request: HistoryRequest) => Promise<HistoryResponse>;

/** REST history of the gateway: `GET /api/devices/:id/readings`, aggregated in the store. */
@Injectable({ providedIn: 'root' })
export class HistoryApi {
  private readonly http = inject(HttpClient);

  readonly fetch: HistoryFetcher = (deviceId, request) => {
    let params = new HttpParams()
      .set('from', request.from)
      .set('to', request.to)
      .set('bucket', request.bucket ?? 'auto')
      .set('agg', request.agg ?? 'mean')
      .set('maxPoints', Math.round(request.maxPoints));
    if (request.metric !== undefined) params = params.set('metric', request.metric);
    return firstValueFrom(this.http.get<HistoryResponse>(readingsPath(deviceId), { params }));
  };
}
