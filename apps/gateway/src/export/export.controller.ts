import { Controller, Get, Inject, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ErrorCode,
  errorMessage,
  EXPORT_FORMATS,
  type ExportFormat,
  FieldlineError,
  type HistoryParams,
  type HistoryQuery,
  isValidDeviceId,
  parseHistoryParams,
  RestRoute,
} from '@fieldline/contracts';
import { requestOperator } from '../common/access';
import type { ConcurrencyGate } from '../common/concurrency-gate';
import { sendHttpError } from '../common/error.filter';
import { logger } from '../common/logger';
import { QUERY_GATE } from '../devices/devices.controller';
import { PresenceService } from '../devices/presence.service';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { CSV_EXTRA_COLUMNS, type CsvExtraColumn, EXPORT_MEDIA_TYPE, streamExport } from './export.stream';

/** Query of `GET /api/devices/:id/export`: the history parameters plus `format` and `include`. */
export interface ExportParams extends HistoryParams {
  format?: string;
  include?: string;
}

/** `include=seq,tags`: extra columns of a raw CSV export (none by default: `ts` and the metrics, for spreadsheets). */
export function includeOf(include: unknown, q: HistoryQuery): CsvExtraColumn[] {
  if (include === undefined || include === '') return [];
  const names = typeof include === 'string' ? include.split(',').map((x) => x.trim()) : [];
  if (!names.length || names.some((n) => !(CSV_EXTRA_COLUMNS as readonly string[]).includes(n)))
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `include takes ${CSV_EXTRA_COLUMNS.join(', ')}`, {
      param: 'include',
    });
  if (q.bucketMs !== null)
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, 'include applies to raw exports only', { param: 'include' });
  return CSV_EXTRA_COLUMNS.filter((c) => names.includes(c));
}

/** Media types of an `Accept` header that select an export format. */
const ACCEPTED = new Map<string, ExportFormat>([
  ['text/csv', 'csv'],
  ['application/x-ndjson', 'ndjson'],
  ['application/ndjson', 'ndjson'],
]);

/**
 * `format=` wins; else the export format the client's `Accept` ranks highest (q-values, then order); else CSV, also
 * for a wildcard or a header that names neither (a download link must not fail on a browser's default `Accept`).
 */
export function exportFormatOf(format: string | undefined, accept: string | undefined): ExportFormat {
  if (format !== undefined && format !== '') {
    if ((EXPORT_FORMATS as readonly string[]).includes(format)) return format as ExportFormat;
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `format must be one of ${EXPORT_FORMATS.join(', ')}`, {
      param: 'format',
    });
  }
  let best: ExportFormat = 'csv';
  let bestQ = 0;
  for (const range of (accept ?? '').toLowerCase().split(',')) {
    const [type, ...params] = range.split(';').map((x) => x.trim());
    const f = ACCEPTED.get(type);
    if (f === undefined) continue;
    const qParam = params.find((x) => x.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (Number.isFinite(q) && q > bestQ) {
      best = f;
      bestQ = q;
    }
  }
  return best;
}

const stamp = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

const UNITS: readonly [string, number][] = [
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
];
/** `300000` → `5m`: the largest unit that divides the bucket, as `bucket=` spells it. */
const bucketLabel = (ms: number): string => {
  const unit = UNITS.find(([, size]) => ms % size === 0);
  return unit ? `${ms / unit[1]}${unit[0]}` : `${ms}ms`;
};

/** `pump-7_20261201T000000Z_20261202T000000Z_raw.csv`, or `..._5m-mean.csv` when aggregated. */
export function exportFileName(q: HistoryQuery, format: ExportFormat): string {
  const kind = q.bucketMs === null ? 'raw' : `${bucketLabel(q.bucketMs)}-${q.agg}`;
  const metric = q.metric ? `_${q.metric}` : '';
  return `${q.deviceId}${metric}_${stamp(q.from)}_${stamp(q.to)}_${kind}.${format}`;
}

/**
 * History as a file: CSV or NDJSON, raw (default) or aggregated, streamed page by page from the store with
 * backpressure, so a month of 1 Hz data never sits whole in memory (docs/export.md).
 */
@Controller()
export class ExportController {
  private readonly log = logger('Export');

  constructor(
    private readonly presence: PresenceService,
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
    /** An export holds its operator's turn for as long as it streams. */
    @Inject(QUERY_GATE) private readonly queries: ConcurrencyGate,
  ) {}

  @Get(RestRoute.export)
  async export(
    @Param('id') id: string,
    @Query() params: ExportParams,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    let query: HistoryQuery;
    let format: ExportFormat;
    let metrics: string[];
    let include: CsvExtraColumn[];
    try {
      if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
      format = exportFormatOf(params.format, req.headers.accept);
      const { format: _f, include: _i, ...history } = params;
      query = parseHistoryParams(id, { ...history, bucket: history.bucket ?? 'raw' }, Date.now());
      include = includeOf(params.include, query);
      metrics = await this.metricsOf(id, query.metric);
    } catch (err) {
      sendHttpError(res, err);
      return;
    }
    // Express answers HEAD with the GET route: the headers tell all there is, without reading a month of rows.
    if (req.method === 'HEAD') {
      this.headers(res, query, format);
      res.end();
      return;
    }
    let streamed: true | undefined;
    try {
      streamed = await this.queries.run(
        requestOperator(req) ?? '',
        () => !req.socket.destroyed,
        () => this.stream(id, { query, format, metrics, include }, res).then(() => true as const),
      );
    } catch (err) {
      // Only the gate throws: its RATE_LIMITED, before anything was sent.
      sendHttpError(res, err);
      return;
    }
    if (streamed === undefined) res.destroy();
  }

  private headers(res: Response, query: HistoryQuery, format: ExportFormat): void {
    res.status(200);
    res.setHeader('Content-Type', EXPORT_MEDIA_TYPE[format]);
    res.setHeader('Content-Disposition', `attachment; filename="${exportFileName(query, format)}"`);
    res.setHeader('Cache-Control', 'no-store');
  }

  private async stream(
    id: string,
    what: { query: HistoryQuery; format: ExportFormat; metrics: string[]; include: CsvExtraColumn[] },
    res: Response,
  ): Promise<void> {
    this.headers(res, what.query, what.format);
    try {
      const { aborted } = await streamExport(this.store, what, res);
      if (!aborted) res.end();
    } catch (err) {
      if (!res.headersSent) {
        // Nothing was written yet (the first chunk is gathered before it goes out): a plain error answer is possible.
        res.removeHeader('Content-Disposition');
        res.removeHeader('Content-Type');
        sendHttpError(
          res,
          new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'history is unavailable right now', {
            reason: errorMessage(err).slice(0, 200),
          }),
        );
        return;
      }
      // Headers (and rows) are out: the only honest signal left is a cut transfer, not a 200 that looks complete.
      this.log.warn('export failed mid-stream; transfer cut', { deviceId: id, error: errorMessage(err) });
      res.destroy();
    }
  }

  /** The metric columns: the one asked for, else every metric the device has sent. 404 for a device never seen. */
  private async metricsOf(id: string, metric: string | undefined): Promise<string[]> {
    let names = this.presence.get(id)?.metrics;
    if (!names) {
      try {
        names = (await this.store.devices()).find((d) => d.deviceId === id)?.metrics;
      } catch (err) {
        throw new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'history is unavailable right now', {
          reason: errorMessage(err).slice(0, 200),
        });
      }
    }
    if (!names) throw new FieldlineError(ErrorCode.NOT_FOUND, `no device "${id}"`);
    return metric !== undefined ? [metric] : [...names].sort();
  }
}
