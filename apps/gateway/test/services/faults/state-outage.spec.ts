/*
 * Faults of the state store's servers (issue 12, docs/state.md "When the database is down"):
 * - PostgreSQL stopped while devices send (short variant 12 s, longer than the 10 s token cache period so that every
 *   cached entry expires while it is down; FAULT_LONG=1: 30 s). Ingest of registered devices goes on (WebSocket
 *   devices stay connected; an HTTP device's token is served from the cache past its period), admin changes are
 *   refused with 503 STATE_UNAVAILABLE, and after recovery nothing of them was written.
 * - Redis restarted under two nodes: no registration lost, no device locked out at either node.
 * Figures: readings sent / acknowledged / stored, admin refusals, token checks served stale, /health while down.
 */
import { Client } from 'pg';
import {
  AuthPath,
  deviceMetaPath,
  deviceRegistrationPath,
  deviceTokenPath,
  ErrorCode,
  readingsPath,
} from '@fieldline/contracts';
import { type RestartableService, startRestartable } from '../../../../../scripts/test-services';
import { compare, figure, keyOf, LONG, registerDevice, ResilientWsDevice, sleep } from '../../faults/devices';
import { waitFor } from '../../support';
import { type GatewayNode, killAll, startNode } from '../cluster';
import { describeWithServices, serviceUrls, uniqueName } from '../services';
import { clusterOn, storedKeys } from './harness';

const WS_DEVICES = 10;
const HZ = 10;
const OUTAGE_S = LONG ? 30 : 12;

const admin = (token: string): Record<string, string> => ({
  authorization: `Bearer ${token}`,
  'content-type': 'application/json',
});

/** The answer's status and error code (or `ok`). */
async function answer(res: Promise<Response>): Promise<string> {
  const r = await res;
  const body = (await r.json().catch(() => ({}))) as { code?: string };
  return `${r.status} ${body.code ?? 'ok'}`;
}

/** Posts one reading as an HTTP device; resolves the status. */
async function postReading(node: GatewayNode, id: string, token: string, seq: number): Promise<number> {
  const res = await fetch(node.url + readingsPath(id), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ts: Date.now(), seq, metrics: { v: seq } }),
  });
  await res.arrayBuffer();
  return res.status;
}

function metric(m: Map<string, number>, key: string): number {
  return m.get(key) ?? 0;
}

describeWithServices('fault: the state store’s servers', () => {
  afterAll(async () => {
    await killAll();
  });

  describe('PostgreSQL stopped while devices send', () => {
    let pg: RestartableService;
    beforeAll(async () => {
      pg = await startRestartable('postgres');
    });
    afterAll(async () => {
      await killAll();
      await pg?.remove();
    });

    it(`down ${OUTAGE_S} s: ingest goes on, admin changes refused with 503, nothing half-written`, async () => {
      const name = uniqueName('fl_state_fault').toLowerCase();
      const c = new Client({ connectionString: pg.url });
      await c.connect();
      await c.query(`create database "${name}"`);
      await c.end();
      const dbUrl = new URL(pg.url);
      dbUrl.pathname = `/${name}`;
      const cluster = clusterOn({ influx: serviceUrls().influx }, { DATABASE_URL: dbUrl.toString() });
      const node = await startNode(cluster, uniqueName('pgdown'));
      const token = await node.adminToken();
      const prefix = `${uniqueName('pgd')}-`;
      const t0 = Date.now() - 1000;
      const devices: ResilientWsDevice[] = [];
      for (let i = 0; i < WS_DEVICES; i++) {
        const id = `${prefix}${i}`;
        const t = await registerDevice(node.url, token, id);
        devices.push(new ResilientWsDevice(id, { url: () => node.url, token: t, t0, stepMs: 1000 / HZ }));
      }
      const httpId = `${prefix}http`;
      const httpToken = await registerDevice(node.url, token, httpId);
      const rotatedId = devices[0].id;
      const registrationsBefore = (await (
        await fetch(node.url + AuthPath.registrations, { headers: admin(token) })
      ).json()) as { deviceId: string; tokenIssuedAt: number }[];
      await Promise.all(devices.map((d) => d.start()));
      const ticker = setInterval(() => devices.forEach((d) => d.next()), 1000 / HZ);
      let httpSeq = 0;
      const http = { before: 0, during: 0, duringAccepted: 0, after: 0 };
      let phase = 'before' as 'before' | 'during' | 'after';
      let httpRunning = true;
      const httpLoop = (async () => {
        while (httpRunning) {
          const status = await postReading(node, httpId, httpToken, ++httpSeq).catch(() => 0);
          http[phase]++;
          if (phase === 'during' && status === 202) http.duringAccepted++;
          await sleep(200);
        }
      })();
      try {
        await sleep(2000);
        const m0 = await node.metrics();
        await pg.stop();
        const downAt = Date.now();
        phase = 'during';
        await sleep(500);
        const health = await fetch(`${node.url}/health`);
        const healthBody = (await health.json()) as { status: string; checks: Record<string, boolean> };
        // Admin changes while it is down: each refused with STATE_UNAVAILABLE.
        const refusals = {
          register: await answer(
            fetch(node.url + AuthPath.devices, {
              method: 'POST',
              headers: admin(token),
              body: JSON.stringify({ deviceId: `${prefix}new` }),
            }),
          ),
          rotate: await answer(fetch(node.url + deviceTokenPath(rotatedId), { method: 'POST', headers: admin(token) })),
          revoke: await answer(
            fetch(node.url + deviceTokenPath(rotatedId), { method: 'DELETE', headers: admin(token) }),
          ),
          meta: await answer(
            fetch(node.url + deviceMetaPath(rotatedId), {
              method: 'PUT',
              headers: admin(token),
              body: JSON.stringify({ site: 'moved' }),
            }),
          ),
          // A token never seen: it may be valid, so not 401 but "retry later".
          unknownToken: String(await postReading(node, httpId, 'fl_never_seen_token_0000000000', 1)),
        };
        await sleep(OUTAGE_S * 1000 - (Date.now() - downAt));
        const m1 = await node.metrics();
        await pg.start();
        phase = 'after';
        await waitFor(
          async () =>
            ((await (await fetch(`${node.url}/health`)).json()) as { checks: { state: boolean } }).checks.state,
          'the state check to pass again',
          30_000,
        );
        await sleep(2000);
        clearInterval(ticker);
        httpRunning = false;
        await httpLoop;
        await Promise.all(devices.map((d) => d.drained(60_000)));

        // Nothing of the refused changes was written; the rest is as it was.
        const registrationsAfter = (await (
          await fetch(node.url + AuthPath.registrations, { headers: admin(token) })
        ).json()) as { deviceId: string; tokenIssuedAt: number }[];
        const newOne = await fetch(node.url + deviceRegistrationPath(`${prefix}new`), { headers: admin(token) });
        const meta = (await (await fetch(node.url + deviceMetaPath(rotatedId), { headers: admin(token) })).json()) as {
          site: string | null;
        };
        const oldTokenStillWorks = await postReading(node, httpId, httpToken, ++httpSeq);
        const registerAfter = await answer(
          fetch(node.url + AuthPath.devices, {
            method: 'POST',
            headers: admin(token),
            body: JSON.stringify({ deviceId: `${prefix}after` }),
          }),
        );

        const acked = devices.flatMap((d) => [...d.acked].map((s) => keyOf(d.id, s)));
        let stored: string[] = [];
        for (let i = 0; i < 120; i++) {
          stored = (await storedKeys(cluster, prefix)).filter((k) => !k.startsWith(httpId + ':'));
          if (compare(acked, stored).lost === 0) break;
          await sleep(250);
        }
        const cmp = compare(acked, stored);
        const sent = devices.reduce((n, d) => n + d.produced, 0);
        const key = (result: string): string => `fieldline_device_token_checks_total{result="${result}"}`;
        const unavailable = 'fieldline_state_query_errors_total{reason="unavailable"}';
        figure('postgres-outage', {
          outageS: OUTAGE_S,
          wsDevices: WS_DEVICES,
          hz: HZ,
          sent,
          acked: cmp.acked,
          stored: cmp.unique,
          lost: cmp.lost,
          duplicated: cmp.duplicated,
          wsReconnects: devices.reduce((n, d) => n + d.reconnects, 0),
          httpRequests: http,
          refusals,
          staleTokenChecks: metric(m1, key('stale')) - metric(m0, key('stale')),
          stateUnavailableErrors: metric(m1, unavailable) - metric(m0, unavailable),
          healthWhileDown: `${health.status} ${healthBody.status} state=${healthBody.checks.state}`,
          registrationsBefore: registrationsBefore.length,
          registrationsAfter: registrationsAfter.length,
          registerAfter,
        });

        expect(refusals).toEqual({
          register: `503 ${ErrorCode.STATE_UNAVAILABLE}`,
          rotate: `503 ${ErrorCode.STATE_UNAVAILABLE}`,
          revoke: `503 ${ErrorCode.STATE_UNAVAILABLE}`,
          meta: `503 ${ErrorCode.STATE_UNAVAILABLE}`,
          unknownToken: '503',
        });
        expect(health.status).toBe(503);
        expect(healthBody).toMatchObject({ status: 'degraded', checks: { state: false, store: true } });
        // Ingest went on: every WebSocket reading acknowledged and stored, and the HTTP device served throughout.
        expect(cmp.acked).toBe(sent);
        expect(cmp.lost).toBe(0);
        expect(http.during).toBeGreaterThan(OUTAGE_S);
        expect(http.duringAccepted).toBe(http.during);
        expect(metric(m1, key('stale')) - metric(m0, key('stale'))).toBeGreaterThan(0);
        expect(metric(m1, unavailable) - metric(m0, unavailable)).toBeGreaterThan(0);
        expect(metric(m1, 'fieldline_device_token_cache_entries{kind="known"}')).toBe(WS_DEVICES + 1);
        // Nothing half-written: the same registrations and tokens, no new device, labels unchanged.
        expect(registrationsAfter).toEqual(registrationsBefore);
        expect(newOne.status).toBe(404);
        expect(meta.site).toBeNull();
        expect(oldTokenStillWorks).toBe(202);
        expect(registerAfter).toBe('201 ok');
      } finally {
        clearInterval(ticker);
        httpRunning = false;
        devices.forEach((d) => d.close());
      }
    }, 240_000);
  });

  describe('Redis restarted under two nodes', () => {
    let redis: RestartableService;
    beforeAll(async () => {
      redis = await startRestartable('redis');
    });
    afterAll(async () => {
      await killAll();
      await redis?.remove();
    });

    it('no registration lost, no device locked out at either node', async () => {
      const urls = serviceUrls();
      const cluster = clusterOn({ influx: urls.influx, mqtt: urls.mqtt, redis: redis.url });
      const a = await startNode(cluster, uniqueName('ra'));
      const b = await startNode(cluster, uniqueName('rb'));
      const token = await a.adminToken();
      const prefix = `${uniqueName('rr')}-`;
      const ids = Array.from({ length: 20 }, (_, i) => `${prefix}${i}`);
      const tokens = new Map<string, string>();
      for (const id of ids) tokens.set(id, await registerDevice(a.url, token, id));

      await redis.stop();
      await sleep(2000);
      await redis.start();
      // Both nodes reconnect to the empty Redis (their health says so).
      for (const n of [a, b])
        await waitFor(
          async () =>
            ((await (await fetch(`${n.url}/health`)).json()) as { checks: { redis?: boolean } }).checks.redis === true,
          `node ${n.nodeId} to reconnect to Redis`,
          30_000,
        );

      const statuses: Record<string, number> = {};
      for (const n of [a, b])
        for (const id of ids) {
          const s = await postReading(n, id, tokens.get(id)!, 1);
          statuses[s] = (statuses[s] ?? 0) + 1;
        }
      // A fresh WebSocket connection at the other node than the one that registered the device.
      const ws = new ResilientWsDevice(ids[0], {
        url: () => b.url,
        token: tokens.get(ids[0])!,
        t0: Date.now(),
        stepMs: 1,
      });
      await ws.start();
      for (let i = 0; i < 5; i++) ws.next();
      await ws.drained(10_000);
      ws.close();
      const regs = (await (
        await fetch(b.url + AuthPath.registrations, { headers: admin(await b.adminToken()) })
      ).json()) as {
        deviceId: string;
      }[];
      const kept = regs.filter((r) => r.deviceId.startsWith(prefix)).length;
      // A device registered after the restart is known at the other node at once.
      const late = `${prefix}late`;
      const lateStatus = await postReading(b, late, await registerDevice(a.url, token, late), 1);
      figure('redis-restart', {
        nodes: 2,
        devices: ids.length,
        registrationsKept: kept,
        httpAnswers: statuses,
        wsAckedAtOtherNode: ws.acked.size,
        registeredAfterRestartAtOtherNode: lateStatus,
      });
      expect(kept).toBe(ids.length);
      expect(statuses).toEqual({ 202: ids.length * 2 });
      expect(ws.acked.size).toBe(5);
      expect(lateStatus).toBe(202);
    }, 180_000);
  });
});
