import { createHash, randomBytes } from 'node:crypto';
import type { DeviceRegistration } from '@fieldline/contracts';
import type { InTransaction } from '../state/state.store';

/** A registered device as stored: the token is kept only as its SHA-256. */
export interface DeviceRecord extends DeviceRegistration {
  /** Hex SHA-256 of the current token; null when revoked. */
  tokenHash: string | null;
}

/**
 * Where registered devices and their token hashes live: the state store ({@link StateDeviceRegistry}, SQLite or
 * PostgreSQL). The JSON file ({@link FileDeviceRegistry}) and Redis ({@link RedisDeviceRegistry}) registries of
 * earlier versions are read once at start, to import them (device-registry.import.ts).
 * Implementations do storage only; {@link DeviceAuth} adds the token cache and closes connections on revocation.
 */
export interface DeviceRegistry {
  /**
   * Adds a device with the given token hash; resolves false when the id is taken. `inTrx` (e.g. its audit entry)
   * runs in the same transaction when the registry has them, only when the device was added.
   */
  create(record: DeviceRecord, inTrx?: InTransaction): Promise<boolean>;
  /**
   * Replaces a device's token hash (null revokes); resolves the updated record, or undefined when unknown. `inTrx`
   * as for {@link create}.
   */
  setToken(
    deviceId: string,
    tokenHash: string | null,
    issuedAt: number | null,
    inTrx?: InTransaction,
  ): Promise<DeviceRecord | undefined>;
  get(deviceId: string): Promise<DeviceRecord | undefined>;
  list(): Promise<DeviceRecord[]>;
  /** The device holding a token, by the token's hash; null when none does. */
  deviceOfToken(tokenHash: string): Promise<string | null>;
  /** A shared registry tells every node of revocations made on any node. */
  onRemoteRevocation?(listener: (deviceId: string) => void): Promise<void>;
  close(): Promise<void>;
}

/** Nest injection token of the {@link DeviceRegistry}. */
export const DEVICE_REGISTRY = Symbol('DEVICE_REGISTRY');

/**
 * A new device token: 32 random bytes (256 bits), base64url, with a prefix that secret scanners can match. Its
 * entropy is why a plain SHA-256 is enough to store it (a password hash exists to slow guessing of weak secrets).
 */
export function newDeviceToken(): string {
  return `fld_${randomBytes(32).toString('base64url')}`;
}

export function hashDeviceToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** The public view of a record (no hash). */
export function registrationOf(r: DeviceRecord): DeviceRegistration {
  const out: DeviceRegistration = { deviceId: r.deviceId, createdAt: r.createdAt, tokenIssuedAt: r.tokenIssuedAt };
  if (r.name !== undefined) out.name = r.name;
  return out;
}
