import { Controller, Get, Inject, Logger, Param, Query, Req, Res } from '@nestjs/common';
import type { Request, Response } from 'express';
import {
  ErrorCode,
  errorMessage,
  FieldlineError,
  type HistoryParams,
  type HistoryQuery,
  isValidDeviceId,
  parseHistoryParams,
} from '@fieldline/contracts';
import { requestOperator } from '../common/access';
import type { ConcurrencyGate } from '../common/concurrency-gate';
import { sendHttpError } from '../common/error.filter';
import { QUERY_GATE } from '../devices/devices.controller';
import { PresenceService } from '../devices/presence.service';
import { TELEMETRY_STORE, type TelemetryStore } from '../storage/store';
import { EXPORT_FORMATS, EXPORT_MEDIA_TYPE, type ExportFormat, streamExport } from './export.stream';

/** Query of `GET /api/devices/:id/export`: the history parameters plus `format`. */
export interface ExportParams extends HistoryParams {
  format?: string;
}

/** `format=` wins; else the first of `text/csv` / `application/x-ndjson` the client accepts; else CSV. */
export function exportFormatOf(format: string | undefined, accept: string | undefined): ExportFormat {
  if (format !== undefined && format !== '') {
    if ((EXPORT_FORMATS as readonly string[]).includes(format)) return format as ExportFormat;
    throw new FieldlineError(ErrorCode.INVALID_REQUEST, `format must be one of ${EXPORT_FORMATS.join(', ')}`, {
      param: 'format',
    });
  }
  const a = (accept ?? '').toLowerCase();
  const csv = a.indexOf('text/csv');
  const nd = a.indexOf('application/x-ndjson');
  if (nd >= 0 && (csv < 0 || nd < csv)) return 'ndjson';
  return 'csv';
}

const stamp = (ms: number): string =>
  new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');

/** `pump-7_20261201T000000Z_20261202T000000Z_raw.csv`, or `..._5m-mean.csv` when aggregated. */
export function exportFileName(q: HistoryQuery, format: ExportFormat): string {
  const kind = q.bucketMs === null ? 'raw' : `${q.bucketMs}ms-${q.agg}`;
  const metric = q.metric ? `_${q.metric}` : '';
  return `${q.deviceId}${metric}_${stamp(q.from)}_${stamp(q.to)}_${kind}.${format}`;
}

/**
 * History as a file: CSV or NDJSON, raw (default) or aggregated, streamed page by page from the store with
 * backpressure, so a month of 1 Hz data never sits whole in memory (docs/export.md).
 */
@Controller('api/devices')
export class ExportController {
  private readonly log = new Logger('Export');

  constructor(
    private readonly presence: PresenceService,
    @Inject(TELEMETRY_STORE) private readonly store: TelemetryStore,
    /** An export holds its operator's turn for as long as it streams. */
    @Inject(QUERY_GATE) private readonly queries: ConcurrencyGate,
  ) {}

  @Get(':id/export')
  async export(
    @Param('id') id: string,
    @Query() params: ExportParams,
    @Req() req: Request,
    @Res() res: Response,
  ): Promise<void> {
    let query: HistoryQuery;
    let format: ExportFormat;
    let metrics: string[];
    try {
      if (!isValidDeviceId(id)) throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'invalid device id');
      format = exportFormatOf(params.format, req.headers.accept);
      const { format: _f, ...history } = params;
      query = parseHistoryParams(id, { ...history, bucket: history.bucket ?? 'raw' }, Date.now());
      metrics = await this.metricsOf(id, query.metric);
    } catch (err) {
      sendHttpError(res, err);
      return;
    }
    let streamed: true | undefined;
    try {
      streamed = await this.queries.run(
        requestOperator(req) ?? '',
        () => !req.socket.destroyed,
        () => this.stream(id, query, format, metrics, res).then(() => true as const),
      );
    } catch (err) {
      // Only the gate throws: its RATE_LIMITED, before anything was sent.
      sendHttpError(res, err);
      return;
    }
    if (streamed === undefined) res.destroy();
  }

  private async stream(
    id: string,
    query: HistoryQuery,
    format: ExportFormat,
    metrics: string[],
    res: Response,
  ): Promise<void> {
    res.status(200);
    res.setHeader('Content-Type', EXPORT_MEDIA_TYPE[format]);
    res.setHeader('Content-Disposition', `attachment; filename="${exportFileName(query, format)}"`);
    res.setHeader('Cache-Control', 'no-store');
    try {
      const { aborted } = await streamExport(this.store, { query, format, metrics }, res);
      if (!aborted) res.end();
    } catch (err) {
      if (!res.headersSent) {
        res.removeHeader('Content-Disposition');
        sendHttpError(
          res,
          new FieldlineError(ErrorCode.STORE_UNAVAILABLE, 'history is unavailable right now', {
            reason: errorMessage(err).slice(0, 200),
          }),
        );
        return;
      }
      // Headers (and rows) are out: the only honest signal left is a cut transfer, not a 200 that looks complete.
      this.log.warn(`export of ${id} failed mid-stream: ${errorMessage(err)}`);
      res.destroy();
    }
  }

  private async metricsOf(id: string, metric: string | undefined): Promise<string[]> {
    if (metric !== undefined) return [metric];
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
    return [...names].sort();
  }
}
