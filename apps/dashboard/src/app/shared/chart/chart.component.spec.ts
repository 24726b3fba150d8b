import { TestBed } from '@angular/core/testing';
import { MetricSeries } from '../../core/series/metric-series';
import { ChartComponent } from './chart.component';

interface FakeChart {
  config: { data: FakeChart['data']; options: FakeChart['options'] & Record<string, unknown> };
  data: { datasets: { data: unknown[] }[] };
  options: { scales: { x: Record<string, unknown> }; spanGaps?: unknown };
  update: jest.Mock;
  destroy: jest.Mock;
  chartArea: { width: number };
  width: number;
}
const charts: FakeChart[] = [];

jest.mock('chartjs-adapter-date-fns', () => ({}));
jest.mock('chart.js', () => {
  class Chart {
    static register = jest.fn();
    data: FakeChart['data'];
    options: FakeChart['options'];
    update = jest.fn();
    destroy = jest.fn();
    chartArea = { width: 600 };
    width = 600;
    constructor(
      _canvas: unknown,
      readonly config: FakeChart['config'],
    ) {
      this.data = config.data;
      this.options = config.options;
      charts.push(this);
    }
  }
  return {
    Chart,
    Decimation: {},
    Filler: {},
    LinearScale: {},
    LineController: {},
    LineElement: {},
    PointElement: {},
    TimeScale: {},
    Tooltip: {},
  };
});

const frame = (): Promise<void> => new Promise((r) => requestAnimationFrame(() => r()));

describe('ChartComponent', () => {
  beforeEach(() => (charts.length = 0));

  async function mount() {
    const series = new MetricSeries('t');
    series.setHistory([{ ts: 1000, value: 1, min: 0, max: 2, count: 4 }], 1000);
    const fixture = TestBed.createComponent(ChartComponent);
    fixture.componentRef.setInput('series', series);
    fixture.componentRef.setInput('xWindow', { kind: 'fixed', min: 0, max: 10_000 });
    fixture.componentRef.setInput('label', 't');
    await fixture.whenStable();
    await frame();
    return { fixture, series, chart: charts[0] };
  }

  it('draws the series without animation and with min-max decimation, the band under the aggregated part', async () => {
    const { chart, series } = await mount();
    const opts = chart.config.options as unknown as {
      animation: unknown;
      parsing: unknown;
      plugins: { decimation: unknown };
    };
    expect(opts.animation).toBe(false);
    expect(opts.parsing).toBe(false);
    expect(opts.plugins.decimation).toEqual({ enabled: true, algorithm: 'min-max' });
    expect(chart.update).toHaveBeenCalledWith('none');
    const [lo, hi, line] = chart.data.datasets;
    expect(line.data).toBe(series.line);
    expect(lo.data).toEqual([{ x: 1000, y: 0 }]);
    expect(hi.data).toEqual([{ x: 1000, y: 2 }]);
    expect(chart.options.scales.x['min']).toBe(0);
    expect(chart.options.scales.x['max']).toBe(10_000);
  });

  it('redraws at most once per animation frame however many revisions arrive', async () => {
    const { fixture, series, chart } = await mount();
    const before = chart.update.mock.calls.length;
    for (let i = 1; i <= 5; i++) {
      series.addRaw(2000 + i, i);
      fixture.componentRef.setInput('revision', i);
      fixture.detectChanges(); // runs the component's effect: a redraw is requested each time
    }
    await frame();
    expect(chart.update.mock.calls.length - before).toBe(1);
    expect((fixture.nativeElement as HTMLElement).dataset['points']).toBe('6');
  });

  it('holds a snapshot while paused and shows everything on resume', async () => {
    const { fixture, series, chart } = await mount();
    fixture.componentRef.setInput('paused', true);
    await fixture.whenStable();
    await frame();
    series.addRaw(3000, 3);
    fixture.componentRef.setInput('revision', 1);
    await fixture.whenStable();
    await frame();
    expect(chart.data.datasets[2].data).toHaveLength(1);
    fixture.componentRef.setInput('paused', false);
    await fixture.whenStable();
    await frame();
    expect(chart.data.datasets[2].data).toBe(series.line);
    expect(chart.data.datasets[2].data).toHaveLength(2);
  });

  it('destroys the chart with the component', async () => {
    const { fixture, chart } = await mount();
    fixture.destroy();
    expect(chart.destroy).toHaveBeenCalled();
  });
});
