import { provideHttpClient } from '@angular/common/http';
import { provideHttpClientTesting } from '@angular/common/http/testing';
import type { EnvironmentProviders, Provider } from '@angular/core';
import type { FakeManager } from './socket/fake-io.testing';
import { GATEWAY_URL, IO_MANAGER_FACTORY } from './socket/io';

/** Providers for component specs: the real services over a fake Socket.IO connection and a fake HTTP backend. */
export function providersForTests(manager: FakeManager): (Provider | EnvironmentProviders)[] {
  return [
    { provide: IO_MANAGER_FACTORY, useValue: () => manager },
    { provide: GATEWAY_URL, useValue: 'http://gateway.test' },
    provideHttpClient(),
    provideHttpClientTesting(),
  ];
}
