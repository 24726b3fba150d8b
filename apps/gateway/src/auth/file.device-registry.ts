import { mkdirSync, readFileSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DeviceRecord, DeviceRegistry } from './device-registry';

interface FileFormat {
  version: 1;
  devices: DeviceRecord[];
}

/**
 * The embedded device registry: every device in memory, persisted to one JSON file that is rewritten atomically
 * (write a temporary file, fsync, rename) after each change. Changes are rare (admin actions), lookups are Map reads.
 */
export class FileDeviceRegistry implements DeviceRegistry {
  private readonly devices = new Map<string, DeviceRecord>();
  private readonly byToken = new Map<string, string>();
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
    let text: string | null = null;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (text !== null) {
      const data = JSON.parse(text) as FileFormat;
      if (data.version !== 1 || !Array.isArray(data.devices)) throw new Error(`${file}: not a device registry file`);
      for (const d of data.devices) this.put(d);
    }
  }

  create(record: DeviceRecord): Promise<boolean> {
    if (this.devices.has(record.deviceId)) return Promise.resolve(false);
    this.put({ ...record });
    return this.persist().then(() => true);
  }

  async setToken(
    deviceId: string,
    tokenHash: string | null,
    issuedAt: number | null,
  ): Promise<DeviceRecord | undefined> {
    const d = this.devices.get(deviceId);
    if (!d) return undefined;
    if (d.tokenHash) this.byToken.delete(d.tokenHash);
    d.tokenHash = tokenHash;
    d.tokenIssuedAt = issuedAt;
    if (tokenHash) this.byToken.set(tokenHash, deviceId);
    await this.persist();
    return { ...d };
  }

  get(deviceId: string): Promise<DeviceRecord | undefined> {
    const d = this.devices.get(deviceId);
    return Promise.resolve(d && { ...d });
  }

  list(): Promise<DeviceRecord[]> {
    return Promise.resolve(
      [...this.devices.values()].map((d) => ({ ...d })).sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
    );
  }

  deviceOfToken(tokenHash: string): Promise<string | null> {
    return Promise.resolve(this.byToken.get(tokenHash) ?? null);
  }

  async close(): Promise<void> {
    await this.writing;
  }

  private put(d: DeviceRecord): void {
    this.devices.set(d.deviceId, d);
    if (d.tokenHash) this.byToken.set(d.tokenHash, d.deviceId);
  }

  /** Writes are chained so that the file always ends up holding the latest state. */
  private persist(): Promise<void> {
    const next = this.writing.then(() => this.write());
    this.writing = next.catch(() => {});
    return next;
  }

  private async write(): Promise<void> {
    const data: FileFormat = { version: 1, devices: [...this.devices.values()] };
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(data, null, 1));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}
