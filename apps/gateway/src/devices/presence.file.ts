import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { errorMessage } from '@fieldline/contracts';
import type { Logger as AppLogger } from '../common/logger';

/** What this part logs with: a subset of the gateway's one logger (`logger()`), so tests pass a stub. */
type Logger = Pick<AppLogger, 'warn'>;

/** What the file holds: when each device was last heard, gateway clock (ms). */
interface PresenceFileContent {
  version: 1;
  lastSeen: Record<string, number>;
}

/**
 * Last-seen times kept across restarts (`DATA_DIR/presence.json`). The store knows a device's newest reading by the
 * device's own clock; last-seen is the gateway's clock at receipt, which is what an operator was shown. Written
 * atomically (temporary file, then rename) when it changed and at shutdown; a missing or unreadable file means
 * "nothing saved": presence then falls back to the store.
 */
export class PresenceFile {
  constructor(
    private readonly path: string,
    private readonly log: Logger,
  ) {}

  load(): Map<string, number> {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn(`cannot read ${this.path}: ${String(err)}`);
      return new Map();
    }
    try {
      const content = JSON.parse(text) as Partial<PresenceFileContent>;
      const out = new Map<string, number>();
      for (const [id, t] of Object.entries(content.lastSeen ?? {})) if (Number.isFinite(t)) out.set(id, t);
      return out;
    } catch (err) {
      this.log.warn(`ignoring ${this.path} (${errorMessage(err)})`);
      return new Map();
    }
  }

  save(lastSeen: Map<string, number>): void {
    const content: PresenceFileContent = { version: 1, lastSeen: Object.fromEntries(lastSeen) };
    const tmp = `${this.path}.tmp`;
    mkdirSync(dirname(this.path), { recursive: true });
    writeFileSync(tmp, JSON.stringify(content));
    renameSync(tmp, this.path);
  }
}
