import { SetMetadata } from '@nestjs/common';
import type { OperatorRole } from '@fieldline/contracts';

/**
 * Who may call a REST route, declared on the route; the global guard (auth/auth.guard.ts) enforces it. Here, apart
 * from the guard, so that any module can mark its routes without importing auth.
 */
export const ACCESS = 'fieldline:access';
export type Access = { kind: 'public' } | { kind: 'role'; role: OperatorRole } | { kind: 'metrics' };

/** No operator token needed: health checks, login, the dashboard's files, device endpoints with their own token. */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(ACCESS, { kind: 'public' } satisfies Access);
/** Admins only (device registration, token rotation and revocation). Without a decorator, any operator role will do. */
export const AdminOnly = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'role', role: 'admin' } satisfies Access);
/** Operators and admins (sending and cancelling commands, editing alarm rules, acting on alarms). */
export const OperatorOnly = (): MethodDecorator & ClassDecorator =>
  SetMetadata(ACCESS, { kind: 'role', role: 'operator' } satisfies Access);
/** `/metrics`: open unless METRICS_TOKEN is set; then that token or an operator token. */
export const MetricsAccess = (): MethodDecorator => SetMetadata(ACCESS, { kind: 'metrics' } satisfies Access);

/**
 * The user name of a guarded request's operator: auth/auth.guard.ts sets `operator` on the request. Read here so that
 * modules that may not import auth (history, export) can count a request against its operator's budget.
 */
export function requestOperator(req: object): string | undefined {
  return (req as { operator?: { username?: string } }).operator?.username;
}
