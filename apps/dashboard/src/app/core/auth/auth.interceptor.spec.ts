import { HttpClient, provideHttpClient, withInterceptors } from '@angular/common/http';
import { HttpTestingController, provideHttpClientTesting } from '@angular/common/http/testing';
import { TestBed } from '@angular/core/testing';
import { firstValueFrom } from 'rxjs';
import { authInterceptor } from './auth.interceptor';
import { AuthService } from './auth.service';

describe('authInterceptor', () => {
  let http: HttpClient;
  let backend: HttpTestingController;
  let auth: AuthService;

  beforeEach(() => {
    localStorage.clear();
    TestBed.configureTestingModule({
      providers: [provideHttpClient(withInterceptors([authInterceptor])), provideHttpClientTesting()],
    });
    http = TestBed.inject(HttpClient);
    backend = TestBed.inject(HttpTestingController);
    auth = TestBed.inject(AuthService);
  });

  afterEach(() => backend.verify());

  it('sends no Authorization header without a token', async () => {
    const done = firstValueFrom(http.get('/api/devices'));
    const req = backend.expectOne('/api/devices');
    expect(req.request.headers.has('Authorization')).toBe(false);
    req.flush([]);
    await done;
  });

  it('adds the bearer token to gateway requests once set, and keeps it from other origins', async () => {
    auth.setToken('abc.def');
    expect(localStorage.getItem('fieldline.token')).toBe('abc.def');
    const own = firstValueFrom(http.get('/api/devices'));
    const req = backend.expectOne('/api/devices');
    expect(req.request.headers.get('Authorization')).toBe('Bearer abc.def');
    req.flush([]);
    await own;

    const other = firstValueFrom(http.get('https://elsewhere.example/x'));
    const req2 = backend.expectOne('https://elsewhere.example/x');
    expect(req2.request.headers.has('Authorization')).toBe(false);
    req2.flush({});
    await other;

    auth.setToken(null);
    expect(localStorage.getItem('fieldline.token')).toBeNull();
  });
});
