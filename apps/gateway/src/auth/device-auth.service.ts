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

/** Called when a device's token stops being valid (revoked or rotated): transports close its connections. */
export type RevocationListener = (deviceId: string) => void;

const MAX_NAME_LENGTH = 128;

/**
 * Device identity: issues, rotates and revokes device tokens, and checks them. MQTT and WebSocket check a token once
 * per connection; HTTP checks it per request through a short cache (by token hash), so a registry that lives
 * elsewhere (Redis) is not asked for every reading. A revocation clears the cache at once on this node.
 */
export class DeviceAuth {
  private readonly cache = new Map<string, { deviceId: string | null; until: number }>();
  private readonly listeners = new Set<RevocationListener>();

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
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.deviceId;
    const deviceId = await this.registry.deviceOfToken(hash);
    if (this.cache.size >= 10_000) this.cache.clear();
    this.cache.set(hash, { deviceId, until: now + this.cacheMs });
    return deviceId;
  }

  /** Registers a new device; its token is returned this once. CONFLICT when the id is taken. */
  async register(deviceId: unknown, name: unknown): Promise<DeviceTokenResponse> {
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
    if (!(await this.registry.create(record)))
      throw new FieldlineError(
        ErrorCode.CONFLICT,
        `device "${deviceId}" is already registered; rotate its token with POST /api/devices/${deviceId}/token`,
      );
    return { ...registrationOf(record), token };
  }

  /** Issues a new token; the old one stops working at once and the device's connections are closed. */
  async rotate(deviceId: string): Promise<DeviceTokenResponse> {
    const token = newDeviceToken();
    const record = await this.registry.setToken(deviceId, hashDeviceToken(token), this.now());
    if (!record) throw new FieldlineError(ErrorCode.NOT_FOUND, `no registered device "${deviceId}"`);
    this.revoked(deviceId);
    return { ...registrationOf(record), token };
  }

  /** Revokes the device's token and closes its connections. The device stays registered; rotate issues a new one. */
  async revoke(deviceId: string): Promise<DeviceRegistration> {
    const record = await this.registry.setToken(deviceId, null, null);
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
    for (const [hash, entry] of this.cache) if (entry.deviceId === deviceId) this.cache.delete(hash);
    for (const l of this.listeners) l(deviceId);
  }
}
