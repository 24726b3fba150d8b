import {
  type DeviceRegistration,
  type DeviceTokenResponse,
  ErrorCode,
  FieldlineError,
  isValidDeviceId,
  MAX_DEVICE_TOKEN_LENGTH,
} from '@fieldline/contracts';
import {
  type DeviceRecord,
  type DeviceRegistry,
  hashDeviceToken,
  newDeviceToken,
  registrationOf,
} from './device-registry';
import type { InTransaction } from '../state/state.store';

/** Called when a device's token stops being valid (revoked or rotated): transports close its connections. */
export type RevocationListener = (deviceId: string) => void;

const MAX_NAME_LENGTH = 128;

/** Verified tokens kept at most (one entry per device token: a fleet's worth). */
const MAX_KNOWN = 100_000;
/** Unknown or revoked token hashes remembered at most: a flood of made-up tokens churns only these. */
const MAX_UNKNOWN = 10_000;

/** Sets `key` as the newest entry, dropping the oldest one past `max` (a Map iterates in insertion order). */
function putBounded<V>(map: Map<string, V>, key: string, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as string);
}

/**
 * Device identity: issues, rotates and revokes device tokens, and checks them. MQTT and WebSocket check a token once
 * per connection; HTTP checks it per request through a bounded cache by token hash, so the registry (a database) is
 * asked at most once per token per `cacheMs`, never per reading. A rotation or revocation drops the device's entries
 * at once on this node, and on the others through the registry's revocation bus (Redis pub/sub). While the registry
 * cannot be reached, a token verified before is still accepted (its entry is kept past `cacheMs`); new tokens wait.
 */
export class DeviceAuth {
  /** Token hash → device, in the order verified (oldest first). */
  private readonly known = new Map<string, { deviceId: string; until: number }>();
  /** Token hash → until when it is known to belong to no device. */
  private readonly unknown = new Map<string, number>();
  /** Counts rotations and revocations, so that a lookup that was out during one is not cached. */
  private changes = 0;
  private readonly listeners = new Set<RevocationListener>();
  /**
   * Token checks answered from the cache (`hits`), asked of the registry (`misses`), and answered from an expired
   * entry because the registry could not be reached (`stale`: ingest going on through a state store outage).
   */
  readonly cacheStats = { hits: 0, misses: 0, stale: 0 };

  constructor(
    private readonly registry: DeviceRegistry,
    private readonly cacheMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** With a shared registry: also act on revocations made on other nodes. */
  async start(): Promise<void> {
    await this.registry.onRemoteRevocation?.((deviceId) => this.revoked(deviceId));
  }

  /** The device a token belongs to, or null (unknown, revoked, malformed). */
  async verify(token: unknown): Promise<string | null> {
    if (typeof token !== 'string' || token.length === 0 || token.length > MAX_DEVICE_TOKEN_LENGTH) return null;
    const hash = hashDeviceToken(token);
    const now = this.now();
    const hit = this.known.get(hash);
    if (hit && hit.until > now) {
      this.cacheStats.hits++;
      return hit.deviceId;
    }
    if (!hit && (this.unknown.get(hash) ?? 0) > now) {
      this.cacheStats.hits++;
      return null;
    }
    this.cacheStats.misses++;
    const changes = this.changes;
    let deviceId: string | null;
    try {
      deviceId = await this.registry.deviceOfToken(hash);
    } catch (err) {
      if (!hit) throw err;
      this.cacheStats.stale++;
      return hit.deviceId;
    }
    // A rotation or revocation that landed while the lookup was out may make its answer stale: do not keep it.
    if (changes !== this.changes) return deviceId;
    if (deviceId !== null) putBounded(this.known, hash, { deviceId, until: now + this.cacheMs }, MAX_KNOWN);
    else {
      this.known.delete(hash);
      putBounded(this.unknown, hash, now + this.cacheMs, MAX_UNKNOWN);
    }
    return deviceId;
  }

  /** Entries in the token cache: verified tokens, and unknown ones remembered. */
  cacheSize(): { known: number; unknown: number } {
    return { known: this.known.size, unknown: this.unknown.size };
  }

  /**
   * Registers a new device; its token is returned this once. CONFLICT when the id is taken. `inTrx` (its audit
   * entry) commits with the registration.
   */
  async register(deviceId: unknown, name: unknown, inTrx?: InTransaction): Promise<DeviceTokenResponse> {
    if (!isValidDeviceId(deviceId))
      throw new FieldlineError(ErrorCode.INVALID_DEVICE_ID, 'deviceId must be 1–64 characters of A-Z a-z 0-9 _ . -');
    if (name !== undefined && (typeof name !== 'string' || name.length > MAX_NAME_LENGTH))
      throw new FieldlineError(
        ErrorCode.INVALID_REQUEST,
        `name must be a string of at most ${MAX_NAME_LENGTH} characters`,
      );
    const token = newDeviceToken();
    const at = this.now();
    const record: DeviceRecord = { deviceId, createdAt: at, tokenIssuedAt: at, tokenHash: hashDeviceToken(token) };
    if (name !== undefined) record.name = name;
    if (!(await this.registry.create(record, inTrx)))
      throw new FieldlineError(
        ErrorCode.CONFLICT,
        `device "${deviceId}" is already registered; rotate its token with POST /api/devices/${deviceId}/token`,
      );
    return { ...registrationOf(record), token };
  }

  /** Issues a new token; the old one stops working at once and the device's connections are closed. */
  async rotate(deviceId: string, inTrx?: InTransaction): Promise<DeviceTokenResponse> {
    const token = newDeviceToken();
    const record = await this.registry.setToken(deviceId, hashDeviceToken(token), this.now(), inTrx);
    if (!record) throw new FieldlineError(ErrorCode.NOT_FOUND, `no registered device "${deviceId}"`);
    this.revoked(deviceId);
    return { ...registrationOf(record), token };
  }

  /** Revokes the device's token and closes its connections. The device stays registered; rotate issues a new one. */
  async revoke(deviceId: string, inTrx?: InTransaction): Promise<DeviceRegistration> {
    const record = await this.registry.setToken(deviceId, null, null, inTrx);
    if (!record) throw new FieldlineError(ErrorCode.NOT_FOUND, `no registered device "${deviceId}"`);
    this.revoked(deviceId);
    return registrationOf(record);
  }

  async get(deviceId: string): Promise<DeviceRegistration> {
    const record = await this.registry.get(deviceId);
    if (!record) throw new FieldlineError(ErrorCode.NOT_FOUND, `no registered device "${deviceId}"`);
    return registrationOf(record);
  }

  async list(): Promise<DeviceRegistration[]> {
    return (await this.registry.list()).map(registrationOf);
  }

  /** Listens for revocations (and rotations); returns the unsubscribe function. */
  onRevoked(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private revoked(deviceId: string): void {
    this.changes++;
    for (const [hash, entry] of this.known) if (entry.deviceId === deviceId) this.known.delete(hash);
    // A new token of this device may have been tried (and found unknown) before it existed.
    this.unknown.clear();
    for (const l of this.listeners) l(deviceId);
  }
}
