import { TestBed } from '@angular/core/testing';
import { provideRouter, Router } from '@angular/router';
import { AuthService } from '../auth/auth.service';
import { FakeManager, type FakeSocket } from './fake-io.testing';
import { GATEWAY_URL, IO_MANAGER_FACTORY } from './io';
import { SocketService } from './socket.service';

function tokenFor(sub: string): string {
  const b64 = (v: object) => btoa(JSON.stringify(v)).replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return `${b64({ alg: 'HS256' })}.${b64({ sub, role: 'viewer', exp: Math.floor(Date.now() / 1000) + 600 })}.sig`;
}

describe('SocketService and the operator session', () => {
  let manager: FakeManager;
  let telemetry: FakeSocket;
  let devices: FakeSocket;
  let navigate: jest.SpyInstance;

  function start(token: string | null): AuthService {
    localStorage.clear();
    if (token !== null) localStorage.setItem('fieldline.token', token);
    manager = new FakeManager();
    TestBed.configureTestingModule({
      providers: [
        provideRouter([]),
        { provide: IO_MANAGER_FACTORY, useValue: () => manager },
        { provide: GATEWAY_URL, useValue: 'http://gateway.test' },
      ],
    });
    navigate = jest.spyOn(TestBed.inject(Router), 'navigate').mockResolvedValue(true);
    TestBed.inject(SocketService);
    telemetry = manager.sockets.get('/telemetry')!;
    devices = manager.sockets.get('/devices')!;
    return TestBed.inject(AuthService);
  }

  const refuse = (s: FakeSocket) => {
    s.active = false;
    s.fire('connect_error', Object.assign(new Error('token expired'), { data: { code: 'UNAUTHORIZED' } }));
  };

  it('signs out when the gateway refuses the token it was given', () => {
    const auth = start(tokenFor('vera'));
    telemetry.auth(() => undefined); // the handshake took the token
    refuse(telemetry);
    expect(auth.token()).toBeNull();
    expect(navigate).toHaveBeenCalledWith(['/login'], { queryParams: { reason: 'expired' } });
  });

  it('signs out when the gateway says the token expired', () => {
    const auth = start(tokenFor('vera'));
    telemetry.auth(() => undefined);
    telemetry.accept();
    devices.accept();
    telemetry.fire('auth_expired', { code: 'UNAUTHORIZED', message: 'token expired; log in again' });
    expect(auth.token()).toBeNull();
    TestBed.tick();
    expect(telemetry.active || devices.active).toBe(false);
  });

  it('connects with the new token after signing in, even after a refused handshake', () => {
    const auth = start(null);
    telemetry.auth(() => undefined);
    devices.auth(() => undefined);
    refuse(telemetry);
    refuse(devices);
    auth.setToken(tokenFor('vera'));
    TestBed.tick();
    expect(telemetry.active && devices.active).toBe(true);
    const sent: object[] = [];
    telemetry.auth((d) => sent.push(d));
    expect(sent).toEqual([{ token: tokenFor('vera') }]);
  });
});
