/*
 * Online backup of embedded mode (docs/backup.md): while WebSocket devices send, `npm run backup` takes a backup of
 * a running gateway; the backup is restored into a fresh DATA_DIR and a gateway started on it. Every reading
 * acknowledged before the backup started is there, the registrations are there (the old device tokens work), and
 * both files open. Figures: readings acknowledged before / stored in the copy, backup time and size.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  AuthPath,
  BackupFile,
  BackupPath,
  type BackupResponse,
  type DeviceRegistration,
  ErrorCode,
  exportPath,
} from '@fieldline/contracts';
import { type BuiltGateway, spawnBuiltGateway } from './built-gateway';
import { figure, keyOf, ResilientWsDevice, sleep } from './faults/devices';

const DEVICES = 5;
const HZ = 20;
const ROOT = resolve(__dirname, '../../..');

async function storedSeqs(gw: BuiltGateway, deviceId: string, to: number): Promise<number[]> {
  const q = new URLSearchParams({ format: 'ndjson', from: '0', to: String(to) });
  const res = await fetch(`${gw.url}${exportPath(deviceId)}?${q.toString()}`, {
    headers: { authorization: `Bearer ${gw.admin}` },
  });
  if (res.status !== 200) throw new Error(`export ${deviceId}: ${res.status} ${await res.text()}`);
  return (await res.text())
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => (JSON.parse(l) as { seq: number }).seq);
}

const post = (gw: BuiltGateway, body: unknown): Promise<Response> =>
  fetch(gw.url + BackupPath, {
    method: 'POST',
    headers: { authorization: `Bearer ${gw.admin}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });

describe('online backup of embedded mode', () => {
  const dirs: string[] = [];
  const gateways: BuiltGateway[] = [];
  const devices: ResilientWsDevice[] = [];
  const tmp = (name: string): string => {
    const d = mkdtempSync(join(tmpdir(), `fieldline-backup-${name}-`));
    dirs.push(d);
    return d;
  };

  afterAll(() => {
    devices.forEach((d) => d.close());
    gateways.forEach((g) => g.kill());
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });

  it('backup taken while devices send, restored into a fresh DATA_DIR: everything acked before it is there', async () => {
    const source = tmp('source');
    // A long flush interval: readings acked before the backup sit in the write buffer, so only its flush stores them.
    const gw = await spawnBuiltGateway(source, { DEVICE_RATE: '0', WRITE_FLUSH_MS: '5000' });
    gateways.push(gw);
    const t0 = Date.now() - 1000;
    const ids = Array.from({ length: DEVICES }, (_, i) => `bk-${i}`);
    const tokens = new Map<string, string>();
    for (const id of ids) {
      tokens.set(id, await gw.register(id));
      devices.push(new ResilientWsDevice(id, { url: () => gw.url, token: tokens.get(id)!, t0, stepMs: 1000 / HZ }));
    }
    await Promise.all(devices.map((d) => d.start()));
    const ticker = setInterval(() => devices.forEach((d) => d.next()), 1000 / HZ);
    let backup: BackupResponse;
    let ackedBefore: string[];
    try {
      await sleep(1500);
      ackedBefore = devices.flatMap((d) => [...d.acked].map((s) => keyOf(d.id, s)));
      const script = await promisify(execFile)(
        join(ROOT, 'node_modules/.bin/tsx'),
        [join(ROOT, 'scripts/backup.ts'), 'nightly'],
        { env: { ...process.env, FIELDLINE_URL: gw.url, FIELDLINE_TOKEN: gw.admin }, cwd: ROOT },
      );
      backup = JSON.parse(script.stdout.slice(script.stdout.indexOf('{'))) as BackupResponse;
      await sleep(500);
    } finally {
      clearInterval(ticker);
    }
    await Promise.all(devices.map((d) => d.drained(20_000)));
    const ackedTotal = devices.reduce((n, d) => n + d.acked.size, 0);

    expect(backup.dir).toBe(join(source, 'backups', 'nightly'));
    expect(readdirSync(backup.dir).sort()).toEqual([BackupFile.readings, BackupFile.manifest, BackupFile.state].sort());
    expect(backup.flushed).toBeGreaterThan(0);
    expect(backup.migrations.length).toBeGreaterThan(0);
    // The same directory again is refused, and so is one outside BACKUP_DIR.
    const again = await post(gw, { dir: 'nightly' });
    expect(again.status).toBe(409);
    expect(((await again.json()) as { code: string }).code).toBe(ErrorCode.CONFLICT);
    const outside = await post(gw, { dir: '../../elsewhere' });
    expect(outside.status).toBe(400);
    expect(existsSync(join(source, '..', 'elsewhere'))).toBe(false);

    // Restore: copy the two files into a fresh DATA_DIR and start a gateway there.
    const restored = tmp('restored');
    for (const f of [BackupFile.state, BackupFile.readings]) copyFileSync(join(backup.dir, f), join(restored, f));
    const gw2 = await spawnBuiltGateway(restored, { DEVICE_RATE: '0' });
    gateways.push(gw2);
    const regs = (await (
      await fetch(gw2.url + AuthPath.registrations, { headers: { authorization: `Bearer ${gw2.admin}` } })
    ).json()) as DeviceRegistration[];
    expect(regs.map((r) => r.deviceId).sort()).toEqual(ids);

    const found = new Set<string>();
    for (const id of ids) for (const s of await storedSeqs(gw2, id, Date.now() + 3_600_000)) found.add(keyOf(id, s));
    const lost = ackedBefore.filter((k) => !found.has(k));
    // An old token still works on the restored gateway: the registry came back with its token hashes.
    const probe = new ResilientWsDevice(ids[0], {
      url: () => gw2.url,
      token: tokens.get(ids[0])!,
      t0: Date.now(),
      stepMs: 1,
    });
    devices.push(probe);
    await probe.start();
    for (let i = 0; i < 3; i++) probe.next();
    await probe.drained(10_000);
    expect(probe.acked.size).toBe(3);
    figure('backup-restore', {
      devices: DEVICES,
      hz: HZ,
      ackedBeforeBackup: ackedBefore.length,
      ackedTotal,
      flushedByBackup: backup.flushed,
      inCopy: found.size,
      lostOfAckedBefore: lost.length,
      backupMs: backup.finishedAt - backup.startedAt,
      bytes: Object.fromEntries(backup.files.map((f) => [f.name, f.bytes])),
    });
    expect(ackedBefore.length).toBeGreaterThan(DEVICES * HZ);
    expect(lost).toEqual([]);
  }, 90_000);
});
