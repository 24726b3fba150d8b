import { TestBed } from '@angular/core/testing';
import { ConnectionBannerComponent } from './connection-banner.component';
import { providersForTests } from './providers.testing';
import { FakeManager } from './socket/fake-io.testing';
import { SocketService } from './socket/socket.service';

describe('ConnectionBannerComponent', () => {
  it('shows the connection lost, then recovered with the number of readings filled in', async () => {
    const manager = new FakeManager();
    TestBed.configureTestingModule({ providers: providersForTests(manager) });
    const fixture = TestBed.createComponent(ConnectionBannerComponent);
    const text = async (): Promise<string> => {
      await fixture.whenStable();
      return (fixture.nativeElement as HTMLElement).textContent?.replace(/\s+/g, ' ').trim() ?? '';
    };
    const telemetry = manager.sockets.get('/telemetry')!;
    const devices = manager.sockets.get('/devices')!;
    expect(await text()).toBe(''); // a quick first connection shows nothing
    telemetry.accept();
    devices.accept();
    expect(await text()).toBe('');

    telemetry.drop();
    manager.fire('reconnect_attempt', 2);
    expect(await text()).toMatch(
      /^Connection lost at \d\d:\d\d:\d\d, reconnecting \(attempt 2\)\. Values shown may be stale/,
    );

    telemetry.accept();
    expect(await text()).toBe('Reconnected. Live again; nothing was missed.');
    TestBed.inject(SocketService).recoveredReadings.set(42);
    expect(await text()).toBe('Reconnected. Live again; 42 missed readings filled in.');
  });

  it('says why the gateway refused, and retries on demand', async () => {
    const manager = new FakeManager();
    TestBed.configureTestingModule({ providers: providersForTests(manager) });
    const fixture = TestBed.createComponent(ConnectionBannerComponent);
    const telemetry = manager.sockets.get('/telemetry')!;
    telemetry.active = false;
    telemetry.fire(
      'connect_error',
      Object.assign(new Error('x'), { data: { code: 'UNAUTHORIZED', message: 'invalid token' } }),
    );
    await fixture.whenStable();
    const el = fixture.nativeElement as HTMLElement;
    expect(el.textContent).toContain('Disconnected: invalid token.');
    el.querySelector('button')!.click();
    await fixture.whenStable();
    expect(telemetry.active).toBe(true);
    expect(el.textContent).not.toContain('Disconnected');
  });
});
