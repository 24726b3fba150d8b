import type { DeviceMessage, SendOutcome } from '@fieldline/contracts';
import type { DeviceTransport } from './device-transport';
import type { IngestPipeline } from './ingest.pipeline';

/**
 * HTTP ingest as a device transport. Its requests are served by {@link HttpIngestController} on the gateway's HTTP
 * server, which the lifecycle opens and closes for every HTTP route at once; what is left here is its part of the
 * shutdown: answering the requests already in the pipeline once their readings are spooled.
 */
export class HttpIngestTransport implements DeviceTransport {
  readonly kind = 'http';
  readonly name = 'http';
  private started = false;
  private accepting = false;

  constructor(private readonly pipeline: IngestPipeline) {}

  get ready(): boolean {
    return this.started && this.accepting;
  }

  start(): Promise<void> {
    this.started = true;
    this.accepting = true;
    return Promise.resolve();
  }

  /** The HTTP server stops listening for every route at once (lifecycle); nothing of its own to refuse. */
  stopAccepting(): void {
    this.accepting = false;
  }

  /** Resolves once the readings of every request taken so far are spooled (their 202s can go out). */
  drain(): Promise<void> {
    return this.pipeline.durable().catch(() => undefined);
  }

  close(): Promise<void> {
    this.accepting = false;
    return Promise.resolve();
  }

  /**
   * An HTTP device holds no connection to send on; messages for it wait for its next request (the command
   * issue's long-poll). `offline` until then.
   */
  send(_deviceId: string, _message: DeviceMessage): Promise<SendOutcome> {
    return Promise.resolve('offline');
  }
}
