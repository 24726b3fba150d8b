import { existsSync } from 'node:fs';
import type { RedisConnections } from '../common/redis.connections';
import type { DeviceRegistry } from './device-registry';
import { FileDeviceRegistry } from './file.device-registry';
import { RedisDeviceRegistry } from './redis.device-registry';
import type { ImportResult, StateDeviceRegistry } from './state.device-registry';

interface Log {
  log(message: string, fields?: Record<string, unknown>): void;
}

/** Where registrations lived before the state store: the embedded JSON file and the Redis hashes. */
export interface LegacyRegistries {
  /** `DATA_DIR/devices.json`. */
  file: string;
  redis: RedisConnections | null;
}

/**
 * Carries the registrations of the previous versions into the state store, once per source, so that no deployment
 * loses its devices (or locks them out) on upgrade. Sources are read, never changed: the file stays where it is and
 * can be removed once the gateway has logged its import. An empty source is not marked done, so devices that nodes
 * of the previous version register during a rolling upgrade are still carried over by the next start.
 */
export async function importLegacyRegistries(
  registry: StateDeviceRegistry,
  from: LegacyRegistries,
  log: Log,
): Promise<Record<string, ImportResult | null>> {
  const sources: [string, () => DeviceRegistry][] = [];
  if (existsSync(from.file)) sources.push(['devices.json', () => new FileDeviceRegistry(from.file)]);
  const redis = from.redis;
  if (redis) sources.push([`redis:${redis.prefix}`, () => new RedisDeviceRegistry(redis)]);
  const done: Record<string, ImportResult | null> = {};
  for (const [name, open] of sources) {
    const source = open();
    const records = await source.list();
    if (records.length === 0) continue;
    const result = await registry.importOnce(name, records);
    done[name] = result;
    if (result)
      log.log(
        `device registry: imported ${result.imported} devices from ${name} into the state store` +
          (result.skipped ? ` (${result.skipped} were there already and kept)` : ''),
        { source: name, ...result },
      );
  }
  return done;
}
