/**
 * Whether this node takes new work. Turns false at the first moment of a shutdown, before anything is closed, so a
 * load balancer or orchestrator stops sending new connections while the node drains (see gateway.ts `close`).
 */
export class Readiness {
  private drainingSince: number | null = null;

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /** Gateway clock time the drain began, or null. */
  get since(): number | null {
    return this.drainingSince;
  }

  drain(): void {
    this.drainingSince ??= Date.now();
  }
}
