import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { ClockService } from './clock.service';
import { formatTime } from './format';
import { SocketService } from './socket/socket.service';

/** How long "reconnected" stays up. */
const RECOVERED_SHOWN_MS = 6000;
/** A first connection faster than this shows no banner at all. */
const CONNECTING_QUIET_MS = 1500;

/** The connection banner: connecting, lost and reconnecting, refused (down), and recovered. */
@Component({
  selector: 'fl-connection-banner',
  template: `
    @switch (view()) {
      @case ('connecting') {
        <div class="banner info" role="status">Connecting to the gateway…</div>
      }
      @case ('reconnecting') {
        <div class="banner warn" role="alert" data-banner="reconnecting">
          <strong>Connection lost</strong> at {{ lostAt() }}, reconnecting{{ attemptText() }}. Values shown may be
          stale; missed readings are filled in when the connection is back.
        </div>
      }
      @case ('down') {
        <div class="banner bad" role="alert" data-banner="down">
          <strong>Disconnected:</strong> {{ reason() }}.
          <button type="button" (click)="retry()">Retry</button>
        </div>
      }
      @case ('recovered') {
        <div class="banner ok" role="status" data-banner="recovered">
          <strong>Reconnected.</strong> {{ recoveredText() }}
        </div>
      }
    }
  `,
  styles: `
    .banner {
      padding: 0.55rem 1.5rem;
      font-size: 0.92rem;
      border-bottom: 1px solid transparent;
    }
    .info {
      background: var(--panel-2);
      color: var(--muted);
    }
    .warn {
      background: var(--warn-bg);
      color: var(--warn);
      border-color: var(--warn-line);
    }
    .bad {
      background: var(--bad-bg);
      color: var(--bad);
    }
    .ok {
      background: var(--ok-bg);
      color: var(--ok-text);
    }
    button {
      margin-left: 0.5rem;
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class ConnectionBannerComponent {
  private readonly socket = inject(SocketService);
  private readonly clock = inject(ClockService);
  private readonly startedAt = Date.now();

  protected readonly view = computed<'connecting' | 'reconnecting' | 'down' | 'recovered' | null>(() => {
    const state = this.socket.connection();
    const now = this.clock.now();
    switch (state) {
      case 'connected': {
        const at = this.socket.recoveredAt();
        return at !== null && now - at < RECOVERED_SHOWN_MS ? 'recovered' : null;
      }
      case 'connecting':
        return now - this.startedAt >= CONNECTING_QUIET_MS ? 'connecting' : null;
      case 'reconnecting':
      case 'down':
        return state;
    }
  });
  protected readonly lostAt = computed(() => {
    const at = this.socket.lostAt();
    return at === null ? '' : formatTime(at);
  });
  protected readonly attemptText = computed(() => {
    const n = this.socket.attempt();
    return n > 1 ? ` (attempt ${n})` : '';
  });
  protected readonly reason = this.socket.downReason;
  protected readonly recoveredText = computed(() => {
    const n = this.socket.recoveredReadings();
    return n === 0 ? 'Live again; nothing was missed.' : `Live again; ${n} missed readings filled in.`;
  });

  protected retry(): void {
    this.socket.reconnect();
  }
}
