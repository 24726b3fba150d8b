import type { IoManager, NamespaceSockets } from './io';

type Listener = (...args: never[]) => void;

interface Emitted {
  event: string;
  payload: unknown;
  ack?: (answer: unknown) => void;
  fail?: (err: Error) => void;
  answered?: boolean;
}

/**
 * A socket.io-client socket without a network: the spec plays the server. Untyped by design (the spec sends any
 * event, valid or not); {@link FakeManager} hands it out as the namespace's typed socket.
 */
export class FakeSocket {
  connected = false;
  active = false;
  readonly emitted: Emitted[] = [];
  private readonly listeners = new Map<string, Listener[]>();

  constructor(
    readonly namespace: string,
    readonly auth: (cb: (data: object) => void) => void,
  ) {}

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  emit(event: string, payload: unknown): this {
    this.emitted.push({ event, payload });
    return this;
  }

  timeout(_ms: number): { emitWithAck(event: string, payload: unknown): Promise<unknown> } {
    return {
      emitWithAck: (event, payload) =>
        new Promise((resolve, reject) => this.emitted.push({ event, payload, ack: resolve, fail: reject })),
    };
  }

  connect(): this {
    this.active = true;
    return this;
  }

  disconnect(): this {
    this.active = false;
    if (this.connected) {
      this.connected = false;
      this.fire('disconnect', 'io client disconnect');
    }
    return this;
  }

  /** The server accepts the (re)connection. */
  accept(): void {
    this.active = true;
    this.connected = true;
    this.fire('connect');
  }

  /** The connection breaks (the client will retry). */
  drop(reason = 'transport close'): void {
    this.connected = false;
    this.fire('disconnect', reason);
  }

  fire(event: string, ...args: unknown[]): void {
    for (const l of this.listeners.get(event) ?? []) (l as (...a: unknown[]) => void)(...args);
  }

  /** Requests of `event` still waiting for an answer, oldest first. */
  pending(event: string): Emitted[] {
    return this.emitted.filter((e) => e.event === event && e.ack && !e.answered);
  }

  /** Answers the oldest pending request of `event`. */
  answer(event: string, answer: unknown): Emitted {
    const e = this.pending(event)[0];
    if (!e) throw new Error(`no pending ${event}`);
    e.answered = true;
    e.ack!(answer);
    return e;
  }

  /** Fails the oldest pending request of `event` (ack timeout). */
  timeOut(event: string): void {
    const e = this.pending(event)[0];
    if (!e) throw new Error(`no pending ${event}`);
    e.answered = true;
    e.fail!(new Error('operation has timed out'));
  }

  sent(event: string): unknown[] {
    return this.emitted.filter((e) => e.event === event).map((e) => e.payload);
  }
}

export class FakeManager implements IoManager {
  readonly sockets = new Map<string, FakeSocket>();
  readonly listeners = new Map<string, ((attempt: number) => void)[]>();

  on(event: string, listener: (attempt: number) => void): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  socket<N extends keyof NamespaceSockets>(
    namespace: N,
    options: { auth: (cb: (data: object) => void) => void },
  ): NamespaceSockets[N] {
    const s = new FakeSocket(namespace, options.auth);
    this.sockets.set(namespace, s);
    return s as unknown as NamespaceSockets[N];
  }

  fire(event: string, attempt = 0): void {
    for (const l of this.listeners.get(event) ?? []) l(attempt);
  }
}
