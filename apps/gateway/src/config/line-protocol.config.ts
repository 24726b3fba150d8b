import { DEFAULT_LINE_DEVICE_TAG } from '@fieldline/contracts';
import { ConfigError } from './config';

/**
 * A bridge (a Telegraf, a Node-RED flow, a plant historian) that writes line protocol for several devices with one
 * token. Only the SHA-256 of its token is configured, never the token itself.
 */
export interface LineBridge {
  name: string;
  /** Hex SHA-256 of the bridge's token. */
  tokenSha256: string;
  /** Device ids it may write for: exact ids, or a prefix ending in `*` (`pump-*`); `*` alone: every device. */
  devices: string[];
}

export interface LineProtocolConfig {
  /** The tag that names the device of a line (`device_id`; `host` for Telegraf's own tags). */
  deviceTag: string;
  bridges: LineBridge[];
}

const TAG_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
const SHA_RE = /^[0-9a-f]{64}$/;
const DEVICE_PATTERN_RE = /^(\*|[A-Za-z0-9_.-]{1,64}\*?)$/;

/**
 * `LINE_PROTOCOL_DEVICE_TAG` (default `device_id`) and `LINE_PROTOCOL_BRIDGES`: entries separated by `;`, each
 * `<name>:<sha256 hex of the token>:<device>[,<device>...]`, e.g. `telegraf:9f86d0…:pump-*,valve-1`.
 */
export function loadLineProtocolConfig(env: Record<string, string | undefined>): LineProtocolConfig {
  const deviceTag = (env.LINE_PROTOCOL_DEVICE_TAG ?? '').trim() || DEFAULT_LINE_DEVICE_TAG;
  if (!TAG_RE.test(deviceTag))
    throw new ConfigError(
      'LINE_PROTOCOL_DEVICE_TAG',
      `must be a tag key (a letter or _, then up to 63 of A-Z a-z 0-9 _ . -), got "${deviceTag.slice(0, 80)}"`,
    );
  const bridges: LineBridge[] = [];
  const raw = (env.LINE_PROTOCOL_BRIDGES ?? '').trim();
  for (const entry of raw === '' ? [] : raw.split(';')) {
    if (entry.trim() === '') continue;
    const [name, hash, devices, ...rest] = entry.trim().split(':');
    const bad = (why: string): never => {
      throw new ConfigError(
        'LINE_PROTOCOL_BRIDGES',
        `entry "${(name ?? '').slice(0, 64)}": ${why}; entries are <name>:<sha256 hex of the token>:<device>[,<device>...] separated by ;`,
      );
    };
    if (rest.length > 0 || devices === undefined) bad('expected three parts separated by :');
    if (!NAME_RE.test(name)) bad('the name must be 1–64 of A-Z a-z 0-9 _ . -');
    if (!SHA_RE.test(hash.toLowerCase())) bad('the token hash must be 64 hex digits (sha256sum of the token)');
    const list = devices.split(',').map((d) => d.trim());
    if (list.length === 0 || list.some((d) => !DEVICE_PATTERN_RE.test(d)))
      bad('devices must be device ids or prefixes ending in *');
    if (bridges.some((b) => b.name === name)) bad('the name is used twice');
    bridges.push({ name, tokenSha256: hash.toLowerCase(), devices: list });
  }
  return { deviceTag, bridges };
}

/** Whether a bridge may write for `deviceId`. */
export function bridgeAllows(bridge: LineBridge, deviceId: string): boolean {
  for (const p of bridge.devices) {
    if (p === '*' || p === deviceId) return true;
    if (p.endsWith('*') && deviceId.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}
