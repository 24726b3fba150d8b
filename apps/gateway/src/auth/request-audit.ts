import { Inject, Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { FieldlineError } from '@fieldline/contracts';
import { ClientAddresses } from '../common/client-address';
import { CONFIG, type GatewayConfig } from '../config/config';
import type { AuditLog } from '../state/audit.log';
import type { AuditEntry } from '../state/audit.sink';
import { AUDIT_SINK } from '../state/state.module';
import type { InTransaction } from '../state/state.store';
import { operatorOf } from './auth.guard';

/** What a route records; who and from where come from its request. */
export type AuditWhat = Omit<AuditEntry, 'from' | 'actor' | 'ok'> & { actor?: string | null };

/** The error code of a refusal, for an entry's details (internal errors are not spelled out). */
function refusal(err: unknown): Record<string, unknown> {
  return { code: err instanceof FieldlineError ? err.code : 'INTERNAL' };
}

/**
 * Audit entries of REST requests: the operator of the request's JWT as actor, its client address (through trusted
 * proxies only, like the login limits) as `from`.
 */
@Injectable()
export class RequestAudit {
  private readonly addresses: ClientAddresses;

  constructor(
    @Inject(AUDIT_SINK) readonly log: AuditLog,
    @Inject(CONFIG) config: GatewayConfig,
  ) {
    this.addresses = new ClientAddresses(config.server.trustProxy);
  }

  entry(req: Request, what: AuditWhat, ok: boolean): AuditEntry {
    return {
      actor: operatorOf(req)?.username ?? null,
      from: this.addresses.of(req.socket.remoteAddress, req.headers),
      ...what,
      ok,
    };
  }

  /** Records an action that is no state-store write (written right after). */
  record(req: Request, what: AuditWhat, ok: boolean): Promise<void> {
    return this.log.record(this.entry(req, what, ok));
  }

  /**
   * Runs a change of the state store, its entry written in the change's transaction (`inTrx`); a refused change is
   * recorded after, with the error code. A change that resolves without calling `inTrx` (no transactional store)
   * is recorded right after.
   */
  async change<T>(req: Request, what: AuditWhat, run: (inTrx: InTransaction) => Promise<T>): Promise<T> {
    let written = false;
    const inTrx: InTransaction = async (trx) => {
      await this.log.recordIn(trx, this.entry(req, what, true));
      written = true;
    };
    let result: T;
    try {
      result = await run(inTrx);
    } catch (err) {
      if (!written) await this.record(req, { ...what, details: { ...what.details, ...refusal(err) } }, false);
      throw err;
    }
    if (!written) await this.record(req, what, true);
    return result;
  }
}

export { refusal as auditRefusal };
