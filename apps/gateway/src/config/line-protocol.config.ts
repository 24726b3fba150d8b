import { z } from 'zod';
import { DEFAULT_LINE_DEVICE_TAG } from '@fieldline/contracts';
import { checked, type Env, parseSection, type Refusal, withDefault } from './env';

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

/** One `LINE_PROTOCOL_BRIDGES` entry, or why it is refused. */
function parseBridge(entry: string, earlier: readonly LineBridge[]): LineBridge | Refusal {
  const [name, hash, devices, ...rest] = entry.split(':');
  const bad = (why: string): Refusal => ({
    refused: `entry "${(name ?? '').slice(0, 64)}": ${why}; entries are <name>:<sha256 hex of the token>:<device>[,<device>...] separated by ;`,
  });
  if (rest.length > 0 || devices === undefined) return bad('expected three parts separated by :');
  if (!NAME_RE.test(name)) return bad('the name must be 1–64 of A-Z a-z 0-9 _ . -');
  if (!SHA_RE.test(hash.toLowerCase())) return bad('the token hash must be 64 hex digits (sha256sum of the token)');
  const list = devices.split(',').map((d) => d.trim());
  if (list.length === 0 || list.some((d) => !DEVICE_PATTERN_RE.test(d)))
    return bad('devices must be device ids or prefixes ending in *');
  if (earlier.some((b) => b.name === name)) return bad('the name is used twice');
  return { name, tokenSha256: hash.toLowerCase(), devices: list };
}

const schema = z
  .object({
    LINE_PROTOCOL_DEVICE_TAG: withDefault(
      DEFAULT_LINE_DEVICE_TAG,
      checked((text) => {
        const tag = text.trim();
        return TAG_RE.test(tag)
          ? tag
          : {
              refused: `must be a tag key (a letter or _, then up to 63 of A-Z a-z 0-9 _ . -), got "${tag.slice(0, 80)}"`,
            };
      }),
    ),
    LINE_PROTOCOL_BRIDGES: withDefault(
      [],
      checked((text) => {
        const bridges: LineBridge[] = [];
        for (const entry of text.split(';').map((e) => e.trim())) {
          if (entry === '') continue;
          const bridge = parseBridge(entry, bridges);
          if ('refused' in bridge) return bridge;
          bridges.push(bridge);
        }
        return bridges;
      }),
    ),
  })
  .transform((e): LineProtocolConfig => ({ deviceTag: e.LINE_PROTOCOL_DEVICE_TAG, bridges: e.LINE_PROTOCOL_BRIDGES }));

/**
 * `LINE_PROTOCOL_DEVICE_TAG` (default `device_id`) and `LINE_PROTOCOL_BRIDGES`: entries separated by `;`, each
 * `<name>:<sha256 hex of the token>:<device>[,<device>...]`, e.g. `telegraf:9f86d0…:pump-*,valve-1`.
 */
export const loadLineProtocolConfig = (env: Env): LineProtocolConfig => parseSection(schema, env);

/** Whether a bridge may write for `deviceId`. */
export function bridgeAllows(bridge: LineBridge, deviceId: string): boolean {
  for (const p of bridge.devices) {
    if (p === '*' || p === deviceId) return true;
    if (p.endsWith('*') && deviceId.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}
