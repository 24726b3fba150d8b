import { ChangeDetectionStrategy, Component, computed, inject } from '@angular/core';
import { RouterLink, RouterLinkActive, RouterOutlet } from '@angular/router';
import { AuthService } from './core/auth/auth.service';
import { ConnectionBannerComponent } from './core/connection-banner.component';
import { SocketService } from './core/socket/socket.service';
import { PasswordDialogComponent } from './features/account/password-dialog.component';

/** The shell: top bar with the connection state, the connection banner, and the routed view. */
@Component({
  selector: 'fl-root',
  imports: [RouterOutlet, RouterLink, RouterLinkActive, ConnectionBannerComponent, PasswordDialogComponent],
  template: `
    <header class="bar">
      <a routerLink="/" class="brand"
        ><svg viewBox="0 0 32 32" aria-hidden="true">
          <rect width="32" height="32" rx="7" fill="currentColor" />
          <path
            d="M5 20h5l3-9 5 14 3-8h6"
            fill="none"
            stroke="#fff"
            stroke-width="2.6"
            stroke-linecap="round"
            stroke-linejoin="round"
          /></svg
        >Fieldline</a
      >
      @if (session()) {
        <nav>
          <a routerLink="/" routerLinkActive="active" [routerLinkActiveOptions]="{ exact: true }">Fleet</a>
          @if (session()?.role === 'admin') {
            <a routerLink="/users" routerLinkActive="active" data-nav="users">Users</a>
            <a routerLink="/audit" routerLinkActive="active" data-nav="audit">Audit</a>
          }
        </nav>
      }
      @if (session(); as s) {
        <span class="conn" [attr.data-state]="connection()"><i></i>{{ connectionText() }}</span>
        <span class="user" data-session="user" [title]="s.role">{{ s.username }}</span>
        <fl-password-dialog />
        <button type="button" class="signout" data-session="sign-out" (click)="signOut()">Sign out</button>
      }
    </header>
    @if (session()) {
      <fl-connection-banner />
    }
    <main>
      <router-outlet />
    </main>
  `,
  styles: `
    :host {
      display: flex;
      flex-direction: column;
      height: 100vh;
    }
    .bar {
      display: flex;
      align-items: center;
      gap: 1.5rem;
      padding: 0 1.5rem;
      height: 3.25rem;
      flex: none;
      background: var(--bar);
      color: #e2e8f0;
    }
    .brand {
      display: inline-flex;
      align-items: center;
      gap: 0.5rem;
      color: #fff;
      font-weight: 700;
      font-size: 1.05rem;
      text-decoration: none;
    }
    .brand svg {
      width: 1.5rem;
      height: 1.5rem;
      color: var(--accent);
    }
    nav {
      display: flex;
      gap: 1.25rem;
    }
    nav a {
      color: #cbd5e1;
      text-decoration: none;
      font-size: 0.95rem;
      padding: 0.3rem 0;
      border-bottom: 2px solid transparent;
    }
    nav a.active {
      color: #fff;
      border-bottom-color: var(--accent);
    }
    .conn {
      margin-left: auto;
      display: inline-flex;
      align-items: center;
      gap: 0.45rem;
      font-size: 0.85rem;
    }
    .conn i {
      width: 0.55rem;
      height: 0.55rem;
      border-radius: 50%;
      background: #94a3b8;
    }
    .conn[data-state='connected'] i {
      background: #22c55e;
    }
    .conn[data-state='reconnecting'] i {
      background: #f59e0b;
    }
    .conn[data-state='down'] i {
      background: #ef4444;
    }
    .conn {
      white-space: nowrap;
    }
    .user {
      font-size: 0.85rem;
      color: #cbd5e1;
      /* The one part of the bar that gives way at phone width. */
      min-width: 0;
      overflow: hidden;
      text-overflow: ellipsis;
      white-space: nowrap;
    }
    .signout {
      background: transparent;
      border-color: #334155;
      color: #e2e8f0;
    }
    main {
      flex: 1;
      min-height: 0;
      overflow: auto;
      /* Room for the scroll bar even while the page is short: charts measured before it appears keep their width. */
      scrollbar-gutter: stable;
    }
    @media (max-width: 600px) {
      .bar {
        gap: 0.75rem;
        padding: 0 0.75rem;
      }
    }
  `,
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class AppComponent {
  private readonly socket = inject(SocketService);
  private readonly auth = inject(AuthService);
  /** Who is signed in; the bar and the connection banner show only then (not on the login page). */
  protected readonly session = this.auth.session;
  protected readonly connection = this.socket.connection;
  protected readonly connectionText = computed(() => {
    switch (this.connection()) {
      case 'connected':
        return 'Live';
      case 'connecting':
        return 'Connecting…';
      case 'reconnecting':
        return 'Reconnecting…';
      case 'down':
        return 'Disconnected';
    }
  });

  protected signOut(): void {
    this.auth.signOut('signedOut');
  }
}
