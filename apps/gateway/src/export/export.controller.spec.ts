import { ErrorCode, FieldlineError, type HistoryQuery } from '@fieldline/contracts';
import { exportFileName, exportFormatOf } from './export.controller';

describe('exportFormatOf', () => {
  it('takes format= over Accept', () => {
    expect(exportFormatOf('ndjson', 'text/csv')).toBe('ndjson');
    expect(exportFormatOf('csv', 'application/x-ndjson')).toBe('csv');
  });

  it('refuses an unknown format= with INVALID_REQUEST naming the parameter', () => {
    let err: unknown;
    try {
      exportFormatOf('xlsx', undefined);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FieldlineError);
    expect((err as FieldlineError).toBody()).toEqual({
      code: ErrorCode.INVALID_REQUEST,
      message: 'format must be one of csv, ndjson',
      details: { param: 'format' },
    });
  });

  it('follows Accept by quality, then by order; CSV when it names neither', () => {
    expect(exportFormatOf(undefined, 'application/x-ndjson')).toBe('ndjson');
    expect(exportFormatOf(undefined, 'application/ndjson')).toBe('ndjson');
    expect(exportFormatOf(undefined, 'Application/X-NDJSON; charset=utf-8')).toBe('ndjson');
    expect(exportFormatOf(undefined, 'application/x-ndjson;q=0.5, text/csv;q=0.9')).toBe('csv');
    expect(exportFormatOf(undefined, 'text/csv;q=0.2, application/x-ndjson')).toBe('ndjson');
    expect(exportFormatOf(undefined, 'application/x-ndjson, text/csv')).toBe('ndjson');
    expect(exportFormatOf(undefined, 'text/csv, application/x-ndjson')).toBe('csv');
    expect(exportFormatOf(undefined, 'text/html,application/xhtml+xml,*/*;q=0.8')).toBe('csv');
    expect(exportFormatOf(undefined, 'application/x-ndjson;q=0')).toBe('csv');
    expect(exportFormatOf(undefined, 'constructor, __proto__')).toBe('csv');
    expect(exportFormatOf(undefined, undefined)).toBe('csv');
    expect(exportFormatOf('', 'application/x-ndjson')).toBe('ndjson');
  });
});

describe('exportFileName', () => {
  const q: HistoryQuery = {
    deviceId: 'pump-7',
    from: Date.UTC(2026, 11, 1),
    to: Date.UTC(2026, 11, 2),
    bucketMs: null,
    agg: 'mean',
    maxPoints: 1000,
  };

  it('names device, range (UTC, to the second), kind and format', () => {
    expect(exportFileName(q, 'csv')).toBe('pump-7_20261201T000000Z_20261202T000000Z_raw.csv');
    expect(exportFileName({ ...q, metric: 'temp', from: q.from + 1500 }, 'ndjson')).toBe(
      'pump-7_temp_20261201T000001Z_20261202T000000Z_raw.ndjson',
    );
  });

  it('spells the bucket as bucket= does', () => {
    expect(exportFileName({ ...q, bucketMs: 300_000 }, 'csv')).toMatch(/_5m-mean\.csv$/);
    expect(exportFileName({ ...q, bucketMs: 3_600_000, agg: 'max' }, 'csv')).toMatch(/_1h-max\.csv$/);
    expect(exportFileName({ ...q, bucketMs: 86_400_000 }, 'csv')).toMatch(/_1d-mean\.csv$/);
    expect(exportFileName({ ...q, bucketMs: 90_000 }, 'csv')).toMatch(/_90s-mean\.csv$/);
    expect(exportFileName({ ...q, bucketMs: 500 }, 'csv')).toMatch(/_500ms-mean\.csv$/);
  });
});
