import { HttpClient, HttpErrorResponse, HttpParams } from '@angular/common/http';
import { inject, Injectable } from '@angular/core';
import { firstValueFrom } from 'rxjs';
import { type ExportFormat, exportPath } from '@fieldline/contracts/rest';

/** A downloaded export: the file's bytes and the name the gateway gave it. */
export interface ExportFile {
  blob: Blob;
  fileName: string;
}

/**
 * `GET /api/devices/:id/export` (raw readings of `[from, to)` as CSV or NDJSON). Fetched through `HttpClient`, so
 * the operator's bearer token goes with it (a plain link could not carry it), then handed to the browser as a file.
 */
@Injectable({ providedIn: 'root' })
export class ExportApi {
  private readonly http = inject(HttpClient);

  async fetch(deviceId: string, request: { from: number; to: number; format: ExportFormat }): Promise<ExportFile> {
    const params = new HttpParams().set('from', request.from).set('to', request.to).set('format', request.format);
    try {
      const res = await firstValueFrom(
        this.http.get(exportPath(deviceId), { params, observe: 'response', responseType: 'blob' }),
      );
      const fileName = fileNameOf(res.headers.get('content-disposition')) ?? `${deviceId}.${request.format}`;
      return { blob: res.body ?? new Blob([]), fileName };
    } catch (err) {
      throw new Error(await errorText(err));
    }
  }
}

/** `attachment; filename="pump-7_…_raw.csv"` → `pump-7_…_raw.csv`. */
export function fileNameOf(disposition: string | null): string | null {
  const m = /filename="([^"]+)"/.exec(disposition ?? '');
  return m ? m[1] : null;
}

/** Saves a blob as a file: an object URL clicked through a `download` link (no page navigation). */
export function saveFile(file: ExportFile, doc: Document = document): void {
  const url = URL.createObjectURL(file.blob);
  const a = doc.createElement('a');
  a.href = url;
  a.download = file.fileName;
  a.hidden = true;
  doc.body.appendChild(a);
  a.click();
  a.remove();
  // The browser reads the blob after the click returns; revoking at once could cut the download.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The gateway's `{code, message}` of a refused export; with `responseType: 'blob'` it arrives as a Blob. */
async function errorText(err: unknown): Promise<string> {
  if (!(err instanceof HttpErrorResponse)) return err instanceof Error ? err.message : String(err);
  if (err.status === 0) return 'the gateway cannot be reached';
  const body: unknown = err.error;
  if (body instanceof Blob) {
    try {
      const parsed = JSON.parse(await body.text()) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // Not the gateway's error body: fall back to the status line.
    }
  }
  return `${err.status} ${err.statusText}`.trim();
}
