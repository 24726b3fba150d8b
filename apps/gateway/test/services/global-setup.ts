/*
 * Jest global setup of the `services` project: starts throwaway InfluxDB, Mosquitto, Redis and PostgreSQL
 * (scripts/test-services)
 * and hands their URLs to the suites through the environment (workers start after this and inherit it).
 * In CI (CI=true) a service that cannot be installed or started fails the run; elsewhere the suites are skipped with
 * a warning that says why.
 */
import { startTestServices, type TestServices } from '../../../../scripts/test-services';
import { errorMessage } from '../../../../libs/contracts/src/runtime';

declare global {
  var __FIELDLINE_SERVICES__: TestServices | undefined;
}

export default async function globalSetup(): Promise<void> {
  const ci = process.env.CI === 'true' || process.env.CI === '1';
  try {
    const services = await startTestServices({ log: (m) => console.log(m) });
    globalThis.__FIELDLINE_SERVICES__ = services;
    console.log(`\ntest services: InfluxDB, Mosquitto, Redis and PostgreSQL answering after ${services.startMs} ms`);
    process.env.FIELDLINE_TEST_INFLUX_URL = services.influxUrl;
    process.env.FIELDLINE_TEST_MQTT_URL = services.mqttUrl;
    process.env.FIELDLINE_TEST_REDIS_URL = services.redisUrl;
    process.env.FIELDLINE_TEST_POSTGRES_URL = services.postgresUrl;
    process.env.FIELDLINE_TEST_SERVICES_MS = String(services.startMs);
    delete process.env.FIELDLINE_TEST_SERVICES_SKIP;
  } catch (err) {
    const reason = errorMessage(err);
    if (ci) throw new Error(`service suites need InfluxDB, Mosquitto, Redis and PostgreSQL: ${reason}`);
    console.warn(`\n!! service suites SKIPPED: ${reason}\n`);
    process.env.FIELDLINE_TEST_SERVICES_SKIP = reason;
  }
}
