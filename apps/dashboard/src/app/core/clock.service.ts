import { DestroyRef, inject, Injectable, signal } from '@angular/core';

/** Wall-clock time as a signal, ticking once a second: relative times and sliding chart windows follow it. */
@Injectable({ providedIn: 'root' })
export class ClockService {
  private readonly nowState = signal(Date.now());
  readonly now = this.nowState.asReadonly();

  constructor() {
    const timer = setInterval(() => this.nowState.set(Date.now()), 1000);
    inject(DestroyRef).onDestroy(() => clearInterval(timer));
  }
}
