import { ScrollingModule } from '@angular/cdk/scrolling';
import { ChangeDetectionStrategy, Component, computed, inject, signal } from '@angular/core';
import { RouterLink } from '@angular/router';
import type { DeviceSummary } from '@fieldline/contracts';
import { ClockService } from '../../core/clock.service';
import { formatValue, relativeTime } from '../../core/format';
import { SocketService } from '../../core/socket/socket.service';
import { SparklineComponent } from './sparkline.component';

export type StateFilter = 'all' | 'online' | 'offline';

/** Metric chips shown per row; the rest are counted. */
const MAX_CHIPS = 4;

/** Which devices pass the id filter (case-insensitive substring) and the state filter. */
export function filterDevices(
  devices: readonly DeviceSummary[],
  text: string,
  state: StateFilter,
): readonly DeviceSummary[] {
  const q = text.trim().toLowerCase();
  if (q === '' && state === 'all') return devices;
  return devices.filter(
    (d) => (q === '' || d.deviceId.toLowerCase().includes(q)) && (state === 'all' || (state === 'online') === d.online),
  );
}

/** `/`: every known device with its state, last seen, latest values and a live sparkline; virtual scrolling. */
@Component({
  selector: 'fl-fleet',
  imports: [ScrollingModule, RouterLink, SparklineComponent],
  templateUrl: './fleet.component.html',
  styleUrl: './fleet.component.css',
  changeDetection: ChangeDetectionStrategy.OnPush,
})
export class FleetComponent {
  private readonly socket = inject(SocketService);
  private readonly clock = inject(ClockService);

  protected readonly filter = signal('');
  protected readonly state = signal<StateFilter>('all');
  protected readonly chosenMetric = signal<string | null>(null);
  protected readonly synced = this.socket.synced;
  protected readonly counts = this.socket.counts;
  protected readonly connected = computed(() => this.socket.connection() === 'connected');
  protected readonly rows = computed(() => filterDevices(this.socket.devices(), this.filter(), this.state()));
  protected readonly metricChoices = computed(() => {
    const names = new Set<string>();
    for (const d of this.socket.devices()) for (const m of d.metrics) names.add(m);
    return [...names].sort();
  });
  /** The sparkline metric: the operator's choice, else temperature when there is one, else the first. */
  protected readonly sparkMetric = computed(() => {
    const choices = this.metricChoices();
    const chosen = this.chosenMetric();
    if (chosen !== null && choices.includes(chosen)) return chosen;
    return choices.includes('temperature') ? 'temperature' : (choices[0] ?? null);
  });
  protected readonly states: readonly StateFilter[] = ['all', 'online', 'offline'];
  protected readonly stateLabels: Record<StateFilter, string> = { all: 'All', online: 'Online', offline: 'Offline' };

  protected readonly trackById = (_: number, d: DeviceSummary): string => d.deviceId;

  protected lastSeen(d: DeviceSummary): string {
    return relativeTime(d.lastSeen, this.clock.now());
  }

  protected chips(d: DeviceSummary): { name: string; value: string }[] {
    return d.metrics.slice(0, MAX_CHIPS).map((name) => ({ name, value: formatValue(d.latest[name]) }));
  }

  protected more(d: DeviceSummary): number {
    return Math.max(0, d.metrics.length - MAX_CHIPS);
  }
}
