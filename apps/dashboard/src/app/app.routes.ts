import type { Routes } from '@angular/router';
import { adminGuard, authGuard } from './core/auth/auth.guard';

import { AUDIT_ROUTE } from './features/audit/audit.routes';
import { FleetComponent } from './features/fleet/fleet.component';
import { LoginComponent } from './features/login/login.component';

export const routes: Routes = [
  { path: 'login', component: LoginComponent, title: 'Sign in · Fieldline' },
  { path: '', component: FleetComponent, title: 'Fleet · Fieldline', canActivate: [authGuard] },
  {
    path: 'devices/:id',
    canActivate: [authGuard],
    // Chart.js comes with the device view only: the fleet view loads without it.
    loadComponent: () => import('./features/device/device.component').then((m) => m.DeviceComponent),
    title: (route) => `${route.paramMap.get('id') ?? 'Device'} · Fieldline`,
  },
  {
    path: 'users',
    canActivate: [authGuard, adminGuard],
    loadComponent: () => import('./features/users/users.component').then((m) => m.UsersComponent),
    title: 'Users · Fieldline',
  },
  AUDIT_ROUTE,
  { path: '**', redirectTo: '' },
];
