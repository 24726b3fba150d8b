import type { Route } from '@angular/router';
import { adminGuard } from '../../core/auth/admin.guard';

/** `/audit`, admins only; loaded on first visit. */
export const AUDIT_ROUTE: Route = {
  path: 'audit',
  canActivate: [adminGuard],
  loadComponent: () => import('./audit.component').then((m) => m.AuditComponent),
  title: 'Audit · Fieldline',
};
