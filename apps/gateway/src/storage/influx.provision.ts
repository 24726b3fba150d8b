import { errorMessage } from '@fieldline/contracts';
import type { Logger } from '../common/logger';
import type { InfluxHttp } from './influx.http';
import { ident } from './influx.layout';

/**
 * Makes sure the target database and its retention policy `rp` (lasting `retention`, normalised) exist. Never
 * changes an existing policy: it warns instead.
 */
export async function provisionInflux(
  http: InfluxHttp,
  rp: string,
  retention: string,
  log: Pick<Logger, 'warn'> | undefined,
): Promise<void> {
  const db = http.target.database;
  let names: string[];
  try {
    const [result] = await http.query(['SHOW DATABASES']);
    names = (result.series?.[0]?.values ?? []).map((row) => String(row[0]));
  } catch (err) {
    throw new Error(`INFLUX_URL: cannot reach InfluxDB at ${http.origin}: ${errorMessage(err)}`);
  }
  if (!names.includes(db)) {
    // Created with our policy as its default (and no `autogen`), so Grafana finds the data without naming the RP.
    await http.query([`CREATE DATABASE ${ident(db)} WITH DURATION ${retention} REPLICATION 1 NAME ${ident(rp)}`]);
    return;
  }
  const [result] = await http.query([`SHOW RETENTION POLICIES ON ${ident(db)}`]);
  const s = result.series?.[0];
  const row = s?.values.find((v) => v[s.columns.indexOf('name')] === rp);
  if (!s || !row) {
    await http.query([`CREATE RETENTION POLICY ${ident(rp)} ON ${ident(db)} DURATION ${retention} REPLICATION 1`]);
    return;
  }
  const duration = String(row[s.columns.indexOf('duration')]);
  if (normaliseDuration(duration) !== retention) {
    // Shortening a policy deletes data: that is an operator's decision, not a side effect of a restart.
    log?.warn(
      `retention policy "${rp}" on "${db}" keeps ${duration}, not ${retention} (INFLUX_RETENTION); ` +
        `change it with ALTER RETENTION POLICY if that is intended`,
    );
  }
}

/**
 * Normalises an InfluxDB duration for comparison and statements: `INF` / `0s` → `INF`; `30d` → `720h0m0s`-style
 * strings InfluxDB reports are turned back into hours, so `30d`, `720h` and `720h0m0s` compare equal.
 */
export function normaliseDuration(d: string): string {
  const t = d.trim();
  if (/^(inf|0|0s)$/i.test(t)) return 'INF';
  let hours = 0;
  const re = /(\d+)([wdhms])/g;
  let m: RegExpExecArray | null;
  let matched = '';
  while ((m = re.exec(t)) !== null) {
    matched += m[0];
    const n = Number(m[1]);
    hours += { w: n * 168, d: n * 24, h: n, m: n / 60, s: n / 3600 }[m[2] as 'w' | 'd' | 'h' | 'm' | 's'];
  }
  if (matched !== t || hours === 0) throw new Error(`not an InfluxDB duration: "${d}"`);
  return Number.isInteger(hours) ? `${hours}h` : `${Math.round(hours * 3600)}s`;
}
