import type { OperatorRole } from '@fieldline/contracts';

/** What the dashboard reads from its token (the gateway verifies it; the dashboard only needs to know when to ask). */
export interface Session {
  username: string;
  role: OperatorRole;
  /** Epoch ms. */
  expiresAt: number;
}

/** Decodes a JWT's claims without verifying it; null when it is not a readable operator token. */
export function sessionOf(token: string | null): Session | null {
  if (token === null) return null;
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { sub?: unknown; role?: unknown; exp?: unknown };
    if (typeof claims.sub !== 'string' || typeof claims.exp !== 'number') return null;
    if (claims.role !== 'viewer' && claims.role !== 'operator' && claims.role !== 'admin') return null;
    return { username: claims.sub, role: claims.role, expiresAt: claims.exp * 1000 };
  } catch {
    return null;
  }
}
