import { Injectable } from '@angular/core';

/**
 * Runs work at most once per animation frame: every chart asks for a redraw as data arrives, and all requests of a
 * frame are served by one `requestAnimationFrame` callback. A hidden tab gets no frames, so it does not draw at all.
 */
@Injectable({ providedIn: 'root' })
export class FrameScheduler {
  private readonly tasks = new Set<() => void>();
  private handle: number | null = null;

  request(task: () => void): void {
    this.tasks.add(task);
    this.handle ??= requestAnimationFrame(() => this.run());
  }

  cancel(task: () => void): void {
    this.tasks.delete(task);
  }

  private run(): void {
    this.handle = null;
    const tasks = [...this.tasks];
    this.tasks.clear();
    for (const task of tasks) {
      try {
        task();
      } catch (err) {
        console.error(err);
      }
    }
  }
}
