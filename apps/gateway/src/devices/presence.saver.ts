import { errorMessage } from '@fieldline/contracts';
import type { Logger } from '../common/logger';
import type { PresenceFile } from './presence.file';
import type { PresenceService } from './presence.service';

/** Last-seen times are saved this often when they changed (a crash loses at most this much of them), and at shutdown. */
const PRESENCE_SAVE_MS = 10_000;

/** Keeps DATA_DIR/presence.json up to date: every {@link PRESENCE_SAVE_MS} while running, and once at the end. */
export class PresenceSaver {
  private timer: NodeJS.Timeout | null = null;
  private saved = -1;

  constructor(
    private readonly presence: PresenceService,
    private readonly file: PresenceFile,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.save(), PRESENCE_SAVE_MS);
    this.timer.unref();
  }

  /** After the transports closed and the buffers flushed: the last readings' times are in. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.save();
  }

  private save(): void {
    const changes = this.presence.changes;
    if (changes === this.saved) return;
    try {
      this.file.save(this.presence.lastSeenTimes());
      this.saved = changes;
    } catch (err) {
      this.log.warn(`cannot save last-seen times: ${errorMessage(err)}`);
    }
  }
}
