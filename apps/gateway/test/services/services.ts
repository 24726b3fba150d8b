/** What the `services` global setup started, for the suites. */
import { Client } from 'pg';

/** Why the services are unavailable (outside CI only; in CI the global setup fails instead). */
export const skipReason = process.env.FIELDLINE_TEST_SERVICES_SKIP;

/** `describe`, or `describe.skip` when the services could not be started outside CI. */
export const describeWithServices: jest.Describe = skipReason ? describe.skip : describe;

export interface ServiceUrls {
  /** InfluxDB root URL, no database: append `/<db>`. */
  influx: string;
  mqtt: string;
  redis: string;
  /** PostgreSQL's `postgres` database (trust auth): create one per suite with {@link newDatabase}. */
  postgres: string;
}

export function serviceUrls(): ServiceUrls {
  const influx = process.env.FIELDLINE_TEST_INFLUX_URL;
  const mqtt = process.env.FIELDLINE_TEST_MQTT_URL;
  const redis = process.env.FIELDLINE_TEST_REDIS_URL;
  const postgres = process.env.FIELDLINE_TEST_POSTGRES_URL;
  if (!influx || !mqtt || !redis || !postgres) {
    throw new Error('service URLs missing: run these suites through the jest `services` project (npm test)');
  }
  return { influx, mqtt, redis, postgres };
}

let n = 0;
/** A name unique to this test process, for databases, key prefixes and device ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++n}`;
}

async function onTestServer(sql: string): Promise<void> {
  const c = new Client({ connectionString: serviceUrls().postgres });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** The URL of database `name` (lower case) on the test PostgreSQL; {@link ensureDatabase} creates it. */
export function databaseUrl(name: string): string {
  const url = new URL(serviceUrls().postgres);
  url.pathname = `/${name.toLowerCase()}`;
  return url.toString();
}

const created = new Map<string, Promise<void>>();

/** Creates the database of a {@link databaseUrl} once, however many nodes ask for it at once. */
export function ensureDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  let p = created.get(name);
  if (!p) created.set(name, (p = onTestServer(`create database "${name}"`)));
  return p;
}

/** A new, empty PostgreSQL database on the test server: its URL, and `drop()` (ends its connections first). */
export async function newDatabase(prefix = 'fl_state'): Promise<{ url: string; drop(): Promise<void> }> {
  const url = databaseUrl(uniqueName(prefix));
  await ensureDatabase(url);
  const name = new URL(url).pathname.slice(1);
  return { url, drop: () => onTestServer(`drop database if exists "${name}" with (force)`) };
}
