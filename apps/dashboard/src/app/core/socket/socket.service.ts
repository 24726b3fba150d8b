import {
  computed,
  DestroyRef,
  effect,
  inject,
  Injectable,
  type Signal,
  signal,
  untracked,
  type WritableSignal,
} from '@angular/core';
import type {
  DeviceSummary,
  ErrorBody,
  Reading,
  ReadingsPayload,
  SubscribeAck,
  SubscribeRequest,
  UnsubscribeRequest,
} from '@fieldline/contracts';
import { ErrorCode } from '@fieldline/contracts/errors';
import { AUTH_EXPIRED_EVENT, DevicesEvent, Namespace, TelemetryEvent } from '@fieldline/contracts/socket';
import { AuthService } from '../auth/auth.service';
import { type DevicesSocket, GATEWAY_URL, IO_MANAGER_FACTORY, type TelemetrySocket } from './io';
import { readingKey, RecentKeys } from './recent-keys';

/** The connection to the gateway as operators see it (the banner). */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'down';

/** Where one live watch stands: waiting for its subscribe ack, receiving live readings, or closed. */
export type WatchState = 'subscribing' | 'live' | 'closed';

/** Readings handed to a watcher: never one it was handed before (same device, ts and seq). */
export interface LiveBatch {
  readonly deviceId: string;
  readonly readings: readonly Reading[];
  /** True for the readings of a subscribe ack (the first `since`, or the missed readings after a reconnect). */
  readonly backfill: boolean;
  /** The gateway cut the backfill: readings with `from < ts < to` were not sent and must be fetched over REST. */
  readonly gap?: { from: number; to: number };
}

/** A live subscription to one device, as returned by {@link SocketService.watch}. */
export interface LiveWatch {
  readonly state: Signal<WatchState>;
  /** The newest reading timestamp handed out: the `since` of the next resubscribe. */
  lastTs(): number | null;
  close(): void;
}

const ACK_TIMEOUT_MS = 10_000;
const RETRY_DELAYS_MS = [500, 1000, 2000, 5000, 10_000];
/** Live readings held while a subscribe ack is outstanding; beyond this the watch starts over from its `since`. */
const MAX_HELD = 20_000;

interface Watcher {
  readonly deviceId: string;
  readonly onBatch: (batch: LiveBatch) => void;
  readonly since: number | undefined;
  readonly keys: RecentKeys;
  readonly state: WritableSignal<WatchState>;
  lastTs: number | null;
  /** Live readings that arrived while a subscribe ack is outstanding (they follow its backfill); null when none is. */
  held: Reading[] | null;
  /** Bumped by every (re)subscribe, so that the answer to an outdated one is ignored. */
  attempt: number;
  failures: number;
  retry: ReturnType<typeof setTimeout> | null;
  /** Resubscribing after a lost connection: its backfill counts as recovered readings. */
  recovering: boolean;
}

const byId = (a: DeviceSummary, b: DeviceSummary): number => a.deviceId.localeCompare(b.deviceId);

/**
 * The one owner of the Socket.IO connections (`/devices` and `/telemetry`, multiplexed over one engine.io
 * connection). Presence and connection state come out as signals; live readings go to watchers, which get, on
 * every (re)subscribe, the readings after the newest one they hold (`since`), each reading exactly once.
 */
@Injectable({ providedIn: 'root' })
export class SocketService {
  private readonly auth = inject(AuthService);
  private readonly manager = inject(IO_MANAGER_FACTORY)(inject(GATEWAY_URL));
  private readonly telemetry: TelemetrySocket;
  private readonly presence: DevicesSocket;
  private readonly watchers = new Map<string, Set<Watcher>>();

  private readonly telemetryUp = signal(false);
  private readonly presenceUp = signal(false);
  private readonly everConnected = signal(false);
  private readonly refusedWith = signal<string | null>(null);
  private readonly deviceMap = signal<ReadonlyMap<string, DeviceSummary>>(new Map());
  private pendingDevices: DeviceSummary[] | null = null;
  private closed = false;
  /** The token sent in the last handshake. */
  private handshakeToken: string | null = null;

  readonly connection = computed<ConnectionState>(() => {
    if (this.telemetryUp() && this.presenceUp()) return 'connected';
    if (this.refusedWith() !== null) return 'down';
    return this.everConnected() ? 'reconnecting' : 'connecting';
  });
  /** Why the gateway refused the connection (state `down`). */
  readonly downReason = this.refusedWith.asReadonly();
  /** Reconnection attempts since the connection was lost. */
  readonly attempt = signal(0);
  /** When the connection was lost (null while connected). */
  readonly lostAt = signal<number | null>(null);
  /** When the connection last came back after a loss. */
  readonly recoveredAt = signal<number | null>(null);
  /** Readings missed while the connection was down that the resubscribes filled in. */
  readonly recoveredReadings = signal(0);
  /** True once the first `/devices` snapshot arrived. */
  readonly synced = signal(false);
  /** Every known device, sorted by id. */
  readonly devices = computed(() => [...this.deviceMap().values()].sort(byId));
  readonly counts = computed(() => {
    let online = 0;
    const all = this.deviceMap();
    for (const d of all.values()) if (d.online) online++;
    return { total: all.size, online, offline: all.size - online };
  });

  constructor() {
    const auth = (cb: (data: object) => void): void => {
      const token = this.auth.token();
      this.handshakeToken = token;
      cb(token === null ? {} : { token });
    };
    this.telemetry = this.manager.socket(Namespace.telemetry, { auth });
    this.presence = this.manager.socket(Namespace.devices, { auth });
    this.listen();
    this.telemetry.connect();
    this.presence.connect();
    // A new token (login) takes effect with a fresh handshake, also after a refused one; signing out leaves.
    effect(() => {
      const token = this.auth.token();
      untracked(() => {
        if (token === this.handshakeToken) return;
        if (token === null) {
          this.telemetry.disconnect();
          this.presence.disconnect();
        } else if (
          this.telemetry.connected ||
          this.presence.connected ||
          !this.telemetry.active ||
          !this.presence.active
        ) {
          this.reconnect();
        }
      });
    });
    inject(DestroyRef).onDestroy(() => this.close());
  }

  /** The summary of one device, live. */
  device(deviceId: string): Signal<DeviceSummary | undefined> {
    return computed(() => this.deviceMap().get(deviceId));
  }

  /**
   * Subscribes to a device's live readings. With `since`, the first batch holds the readings after it (`ts > since`)
   * that the live stream will not bring. After a reconnect the watch resubscribes with `since` = the newest
   * timestamp it has handed out, so nothing is missed; readings seen before are dropped (device + ts + seq).
   */
  watch(deviceId: string, onBatch: (batch: LiveBatch) => void, options: { since?: number } = {}): LiveWatch {
    const w: Watcher = {
      deviceId,
      onBatch,
      since: options.since,
      keys: new RecentKeys(),
      state: signal<WatchState>('subscribing'),
      lastTs: null,
      held: null,
      attempt: 0,
      failures: 0,
      retry: null,
      recovering: false,
    };
    let set = this.watchers.get(deviceId);
    if (!set) this.watchers.set(deviceId, (set = new Set()));
    set.add(w);
    this.subscribe(w);
    return { state: w.state.asReadonly(), lastTs: () => w.lastTs, close: () => this.unwatch(w) };
  }

  /** Connects again after the gateway refused us (the banner's retry), or with a new token. */
  reconnect(): void {
    this.refusedWith.set(null);
    for (const s of [this.telemetry, this.presence]) {
      s.disconnect();
      s.connect();
    }
  }

  private close(): void {
    this.closed = true;
    for (const set of this.watchers.values()) for (const w of set) this.unwatch(w);
    this.telemetry.disconnect();
    this.presence.disconnect();
  }

  private listen(): void {
    const t = this.telemetry;
    t.on('connect', () => this.connected(this.telemetryUp));
    t.on('disconnect', (reason: string) => this.disconnected(t, this.telemetryUp, reason));
    t.on('connect_error', (err: Error) => this.connectError(t, err));
    t.on(TelemetryEvent.readings, (payload: ReadingsPayload) => this.onReadings(payload));
    // The operator's token expired, or the user was disabled or changed, while connected: the gateway says so, then
    // disconnects. A refresh gets a new token (the sockets reconnect with it) or, when refused, signs out.
    t.on(AUTH_EXPIRED_EVENT, () => void this.auth.refreshOrSignOut());
    const p = this.presence;
    p.on('connect', () => this.connected(this.presenceUp));
    p.on('disconnect', (reason: string) => this.disconnected(p, this.presenceUp, reason));
    p.on('connect_error', (err: Error) => this.connectError(p, err));
    p.on(DevicesEvent.snapshot, (list: DeviceSummary[]) => this.onSnapshot(list));
    p.on(DevicesEvent.online, (d: DeviceSummary) => this.queueDevices([d]));
    p.on(DevicesEvent.offline, (d: DeviceSummary) => this.queueDevices([d]));
    p.on(DevicesEvent.updated, (ds: DeviceSummary[]) => this.queueDevices(ds));
    this.manager.on('reconnect_attempt', (n: number) => this.attempt.set(n));
    this.manager.on('reconnect_failed', () => this.refusedWith.set('gave up reconnecting'));
  }

  private connected(up: WritableSignal<boolean>): void {
    up.set(true);
    this.refusedWith.set(null);
    if (up === this.telemetryUp) {
      const recovering = this.lostAt() !== null;
      for (const set of this.watchers.values()) {
        for (const w of set) {
          w.recovering = recovering;
          this.subscribe(w);
        }
      }
    }
    if (this.telemetryUp() && this.presenceUp()) {
      this.everConnected.set(true);
      this.attempt.set(0);
      if (this.lostAt() !== null) {
        this.lostAt.set(null);
        this.recoveredAt.set(Date.now());
      }
    }
  }

  private disconnected(socket: TelemetrySocket | DevicesSocket, up: WritableSignal<boolean>, reason: string): void {
    up.set(false);
    if (this.everConnected() && this.lostAt() === null) {
      this.lostAt.set(Date.now());
      this.recoveredReadings.set(0);
    }
    if (socket === this.telemetry) {
      // Acks of subscribes sent on the old connection will not come; the connect handler subscribes again.
      for (const set of this.watchers.values()) {
        for (const w of set) {
          w.attempt++;
          this.clearRetry(w);
          if (w.state() !== 'closed') w.state.set('subscribing');
        }
      }
    }
    // The server closed the namespace (it dropped us, e.g. an expired token): socket.io leaves reconnecting to us.
    if (reason === 'io server disconnect') {
      setTimeout(() => {
        if (!this.closed && this.auth.token() !== null) socket.connect();
      }, 1000);
    }
  }

  private connectError(socket: TelemetrySocket | DevicesSocket, err: Error & { data?: Partial<ErrorBody> }): void {
    // The gateway refused the token we sent (expired, revoked user, new secret): sign in again.
    if (err.data?.code === ErrorCode.UNAUTHORIZED && this.handshakeToken !== null) {
      this.auth.signOut('expired');
      return;
    }
    // An inactive socket will not retry: the gateway refused the handshake (e.g. an invalid token).
    if (socket.active) return;
    this.refusedWith.set(err.data?.message ?? (err.message || 'the gateway refused the connection'));
  }

  private onSnapshot(list: DeviceSummary[]): void {
    this.pendingDevices = null;
    this.deviceMap.set(new Map(list.map((d) => [d.deviceId, d])));
    this.synced.set(true);
  }

  /** Presence events come in bursts (a site going offline): apply each burst as one change. */
  private queueDevices(devices: DeviceSummary[]): void {
    if (this.pendingDevices === null) {
      this.pendingDevices = [];
      queueMicrotask(() => {
        const pending = this.pendingDevices;
        this.pendingDevices = null;
        if (!pending?.length) return;
        const next = new Map(this.deviceMap());
        for (const d of pending) next.set(d.deviceId, d);
        this.deviceMap.set(next);
      });
    }
    this.pendingDevices.push(...devices);
  }

  private onReadings(payload: ReadingsPayload): void {
    const set = this.watchers.get(payload.deviceId);
    if (!set) return;
    for (const w of set) {
      if (w.held === null) {
        this.hand(w, payload.readings, false);
        continue;
      }
      w.held.push(...payload.readings);
      // Held readings are excluded from the pending backfill; too many to hold: start over from `since`.
      if (w.held.length > MAX_HELD) {
        w.held = null;
        this.subscribe(w);
      }
    }
  }

  private subscribe(w: Watcher): void {
    if (w.state() === 'closed') return;
    this.clearRetry(w);
    const attempt = ++w.attempt;
    w.held ??= [];
    w.state.set('subscribing');
    if (!this.telemetry.connected) return; // the connect handler subscribes
    const since = w.lastTs ?? w.since;
    const request: SubscribeRequest = since === undefined ? { deviceId: w.deviceId } : { deviceId: w.deviceId, since };
    this.telemetry
      .timeout(ACK_TIMEOUT_MS)
      .emitWithAck(TelemetryEvent.subscribe, request)
      .then(
        // socket.io-client 4.8 types `timeout().emitWithAck` as any (the timeout adds an error argument to the ack).
        (ack: SubscribeAck) => this.onAck(w, attempt, since, ack),
        () => this.retryLater(w, attempt),
      );
  }

  private onAck(w: Watcher, attempt: number, since: number | undefined, ack: SubscribeAck): void {
    if (attempt !== w.attempt || w.state() === 'closed') return;
    if (!ack.ok) {
      this.retryLater(w, attempt, ack.error);
      return;
    }
    w.failures = 0;
    const first = ack.backfill[0];
    const gap = ack.truncated && since !== undefined && first ? { from: since, to: first.ts } : undefined;
    const handed = this.hand(w, ack.backfill, true, gap);
    if (w.recovering && handed > 0) this.recoveredReadings.update((n) => n + handed);
    w.recovering = false;
    const held = w.held;
    w.held = null;
    if (held?.length) this.hand(w, held, false);
    w.state.set('live');
  }

  private retryLater(w: Watcher, attempt: number, error?: ErrorBody): void {
    if (attempt !== w.attempt || w.state() === 'closed') return;
    if (error) console.warn(`fieldline: subscribe ${w.deviceId} refused: ${error.code} ${error.message}`);
    const delay = RETRY_DELAYS_MS[Math.min(w.failures, RETRY_DELAYS_MS.length - 1)];
    w.failures++;
    w.retry = setTimeout(() => {
      w.retry = null;
      this.subscribe(w);
    }, delay);
  }

  /** Hands the readings not seen before to the watcher; returns how many. */
  private hand(w: Watcher, readings: readonly Reading[], backfill: boolean, gap?: LiveBatch['gap']): number {
    const fresh: Reading[] = [];
    for (const r of readings) {
      if (!w.keys.add(readingKey(r))) continue;
      fresh.push(r);
      if (w.lastTs === null || r.ts > w.lastTs) w.lastTs = r.ts;
    }
    if (fresh.length > 0 || gap) w.onBatch({ deviceId: w.deviceId, readings: fresh, backfill, gap });
    return fresh.length;
  }

  private unwatch(w: Watcher): void {
    if (w.state() === 'closed') return;
    w.state.set('closed');
    w.attempt++;
    w.held = null;
    this.clearRetry(w);
    const set = this.watchers.get(w.deviceId);
    set?.delete(w);
    if (set?.size === 0) {
      this.watchers.delete(w.deviceId);
      const request: UnsubscribeRequest = { deviceId: w.deviceId };
      if (this.telemetry.connected) this.telemetry.emit(TelemetryEvent.unsubscribe, request);
    }
  }

  private clearRetry(w: Watcher): void {
    if (w.retry !== null) clearTimeout(w.retry);
    w.retry = null;
  }
}
