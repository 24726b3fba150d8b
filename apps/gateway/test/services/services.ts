/** What the `services` global setup started, for the suites. */

/** Why the services are unavailable (outside CI only; in CI the global setup fails instead). */
export const skipReason = process.env.FIELDLINE_TEST_SERVICES_SKIP;

/** `describe`, or `describe.skip` when the services could not be started outside CI. */
export const describeWithServices: jest.Describe = skipReason ? describe.skip : describe;

export interface ServiceUrls {
  /** InfluxDB root URL, no database: append `/<db>`. */
  influx: string;
  mqtt: string;
  redis: string;
}

export function serviceUrls(): ServiceUrls {
  const influx = process.env.FIELDLINE_TEST_INFLUX_URL;
  const mqtt = process.env.FIELDLINE_TEST_MQTT_URL;
  const redis = process.env.FIELDLINE_TEST_REDIS_URL;
  if (!influx || !mqtt || !redis) {
    throw new Error('service URLs missing: run these suites through the jest `services` project (npm test)');
  }
  return { influx, mqtt, redis };
}

let n = 0;
/** A name unique to this test process, for databases, key prefixes and device ids. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${++n}`;
}
