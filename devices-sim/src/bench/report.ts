import { n0, n1, ratio, table } from './format';
import type { Goal } from './goals';
import { THRESHOLDS } from './thresholds';
import type { StepResult } from './load';
import type { LoadSummary, MachineInfo } from './machine';
import type { ProfileSummary } from './profile';
import type { FanoutResult } from './scenarios/fanout';
import type { HistoryResult } from './scenarios/history';
import type { IngestResult, IngestRun } from './scenarios/ingest';
import type { IsolationResult } from './scenarios/isolation';

// Rendering only: what each goal is and whether it was met is goals.ts's.

/** Everything one run of the harness produced: what goes into the JSON file. */
export interface BenchResults {
  startedAt: string;
  durationS: number;
  command: string;
  /** `git describe`-like: the commit the gateway was built from, `+dirty` when the tree had changes. */
  revision: string;
  machine: MachineInfo;
  load: LoadSummary;
  quick: boolean;
  ingest?: IngestResult;
  fanout?: FanoutResult;
  history?: HistoryResult;
  isolation?: IsolationResult;
  profile?: ProfileSummary | { error: string };
  goals: Goal[];
}

// --------------------------------------------------------------------------------------------------------- markdown

const lat = (s: StepResult | null | undefined): string =>
  s ? `${n1(s.latency.p50)} / ${n1(s.latency.p95)} / ${n1(s.latency.p99)}` : '–';

function baselineStep(ing: IngestResult, run: IngestRun, offered: number): StepResult | undefined {
  const base = ing.runs.find((r) => r.id === run.baselines[0]);
  return base?.steps.find((s) => s.offered === offered);
}

export function ingestMarkdown(ing: IngestResult): string {
  const out: string[] = [];
  const byId = (id: string): IngestRun | undefined => ing.runs.find((r) => r.id === id);
  out.push(
    'Highest rate each run sustained (nothing lost, devices not held back, p99 under the bound), its cost, and its ' +
      'latency at the goal rate. Ratios are to the baselines of the same run. ' +
      "`≥` marks a run that never failed: its limit lies above the ladder (or is the load generator's).",
    '',
  );
  out.push(
    table(
      [
        'run',
        'highest sustained (readings/s)',
        'vs baselines',
        'readings / core-s at that rate',
        'vs baselines',
        `p50 / p95 / p99 ms at ${n0(ing.goalRate)}/s`,
        'p99 vs main baseline',
        `CPU % at ${n0(ing.goalRate)}/s`,
      ],
      ing.runs.map((r) => {
        const top = r.steps.find((s) => s.offered === r.maxSustained);
        const vs = r.baselines
          .map((b) => {
            const base = byId(b);
            return base ? `${ratio(r.maxSustained, base.maxSustained)} ${b}` : '';
          })
          .filter(Boolean)
          .join(', ');
        const vsCost = r.baselines
          .map((b) => {
            const base = byId(b);
            const bt =
              base?.steps.find((s) => s.offered === r.maxSustained) ??
              base?.steps.find((s) => s.offered === base.maxSustained);
            return base ? `${ratio(top?.readingsPerCoreS, bt?.readingsPerCoreS)} ${b}` : '';
          })
          .filter(Boolean)
          .join(', ');
        const g = r.atGoalRate;
        const gb = g ? baselineStep(ing, r, g.offered) : undefined;
        return [
          r.id,
          `${r.capped ? '≥ ' : ''}${n0(r.maxSustained)}`,
          vs || '(baseline)',
          n0(top?.readingsPerCoreS),
          vsCost || '(baseline)',
          g ? `${lat(g)}${g.offered !== ing.goalRate ? ` (at ${n0(g.offered)}/s)` : ''}` : '–',
          gb ? `${ratio(g?.latency.p99, gb.latency.p99)} ${r.baselines[0]}` : '–',
          n1(g?.cpuPct),
        ];
      }),
    ),
  );
  out.push('', 'Every step (rates per second of the sending window; latency device → operator, ms):', '');
  const rows: string[][] = [];
  for (const r of ing.runs) {
    for (const s of r.steps) {
      const b = r.baselines.length ? baselineStep(ing, r, s.offered) : undefined;
      rows.push([
        r.id,
        n0(s.offered),
        n0(s.acceptedRate ?? s.achieved),
        n0(s.storedRate),
        n0(s.deliveredRate),
        n0(s.lost),
        lat(s),
        b ? ratio(s.latency.p99, b.latency.p99) : '–',
        n1(s.ack.p50),
        n1(s.cpuPct),
        b ? ratio(s.cpuPct, b.cpuPct) : '–',
        n0(s.readingsPerCoreS),
        b ? ratio(s.readingsPerCoreS, b.readingsPerCoreS) : '–',
        n0(s.rssMB),
        s.loop ? `${n1(s.loop.loopP99)} / ${n1(s.loop.loopMax)}` : '–',
        n0(s.harnessCpuPct),
        s.load1.toFixed(2),
        s.sustained ? 'ok' : s.why.join('; '),
      ]);
    }
  }
  out.push(
    table(
      [
        'run',
        'offered',
        'accepted/s',
        'stored/s',
        'delivered/s',
        'lost',
        'p50 / p95 / p99',
        'p99 vs base',
        'ack p50',
        'CPU %',
        'CPU vs base',
        'readings/core-s',
        'vs base',
        'RSS MB',
        'loop lag p99 / max ms',
        'harness CPU %',
        'load',
        'verdict',
      ],
      rows,
    ),
  );
  if (ing.sustain) {
    const s = ing.sustain;
    out.push(
      '',
      `Held: gateway over MQTT at ${n0(s.offered)}/s for ${s.durationS} s: delivered ${n0(s.deliveredRate)}/s, stored ${n0(s.storedRate)}/s, lost ${n0(s.lost)}, p50 / p95 / p99 ${lat(s)} ms, CPU ${n1(s.cpuPct)} %, ${s.sustained ? 'sustained' : 'NOT sustained: ' + s.why.join('; ')}.`,
    );
  }
  if (ing.sustainError) out.push('', `The hold failed: ${ing.sustainError.split('\n')[0]}`);
  for (const r of ing.runs.filter((x) => x.error))
    out.push('', `${r.id} stopped on an error: ${r.error!.split('\n')[0]}`);
  if (ing.skipped.length) out.push('', `Skipped: ${ing.skipped.join('; ')}.`);
  return out.join('\n');
}

export function fanoutMarkdown(f: FanoutResult): string {
  const relay = f.runs.find((r) => r.target === 'relay');
  const rows: string[][] = [];
  for (const r of f.runs) {
    for (const l of r.levels) {
      const b = r.target === 'relay' ? undefined : relay?.levels.find((x) => x.sockets === l.sockets);
      rows.push([
        r.target,
        n0(l.sockets),
        n0(l.framesPerS),
        b ? ratio(l.framesPerS, b.framesPerS) : '–',
        `${n0(l.readingsPerS)} (${(l.deliveredShare * 100).toFixed(1)} %)`,
        `${n1(l.latency.p50)} / ${n1(l.latency.p95)} / ${n1(l.latency.p99)}`,
        b ? ratio(l.latency.p99, b.latency.p99) : '–',
        n1(l.cpuPct),
        n0(l.rssMB),
        n1(l.kbPerSocket),
        b ? ratio(l.kbPerSocket, b.kbPerSocket) : '–',
        n1(l.heapKbPerSocket),
        n1(l.connectS),
        l.load1.toFixed(2),
      ]);
    }
  }
  const r0 = f.runs[0];
  const head = r0
    ? `${r0.devices} devices at ${r0.ratePerDevice} readings/s each over MQTT; socket i watches device i mod ${r0.devices}. KB per socket = (RSS with the sockets − RSS before the first) / sockets; heap KB per socket the same from the JS heap after a full GC. Ratios are to the bare relay with the same sockets.`
    : '';
  const errors = f.runs.filter((r) => r.error).map((r) => `${r.target}: ${r.error}`);
  return [
    head,
    '',
    table(
      [
        'target',
        'sockets',
        'frames/s',
        'vs relay',
        'readings/s (of expected)',
        'p50 / p95 / p99 ms',
        'p99 vs relay',
        'CPU %',
        'RSS MB',
        'KB / socket',
        'vs relay',
        'heap KB / socket',
        'connect s',
        'load',
      ],
      rows,
    ),
    ...(errors.length ? ['', `Errors: ${errors.join('; ')}`] : []),
  ].join('\n');
}

export function historyMarkdown(h: HistoryResult): string {
  return [
    `Store: ${n0(h.readingsBig)} readings of \`${h.bigDevice}\` (1 Hz) and ${n0(h.readingsOthers)} of other devices (1/min): ${n0(h.rows)} rows, preloaded in ${h.preloadS} s; the gateway was ready ${h.gatewayStartS} s after start on it. Warm figures are the median of the repeats after the first (cold) one; the baseline is the same query on the DuckDbStore in the harness.`,
    '',
    table(
      [
        'query',
        'points / readings',
        'cold ms',
        'p50 ms',
        'max ms',
        'store alone p50 ms',
        'vs store alone',
        `vs ${THRESHOLDS.history.p50Ms} ms goal`,
      ],
      h.queries.map((q) => [
        q.name,
        n0(q.size),
        n1(q.coldMs),
        n1(q.p50Ms),
        n1(q.maxMs),
        n1(q.direct.p50Ms),
        ratio(q.p50Ms, q.direct.p50Ms),
        q.name.startsWith('REST') ? ratio(q.p50Ms, THRESHOLDS.history.p50Ms) : '–',
      ]),
    ),
  ].join('\n');
}

export function isolationMarkdown(i: IsolationResult): string {
  const alone = i.phases.find((p) => p.name === 'alone');
  return [
    `${i.neighbours} neighbours at ${i.ratePerNeighbour} readings/s each over MQTT, then beside one device flooding at ${n0(i.flooderRate)}/s, ${i.windowS} s each. Ratios are to the neighbours alone.`,
    '',
    table(
      [
        'phase',
        'neighbours p50 / p95 / p99 ms',
        'p99 vs alone',
        'neighbours sent / delivered / lost',
        'ack p50 ms',
        'flooder sent / delivered / refused',
        'CPU %',
        'loop lag p99 ms',
        'load',
      ],
      i.phases.map((p) => [
        p.name,
        `${n1(p.neighbours.latency.p50)} / ${n1(p.neighbours.latency.p95)} / ${n1(p.neighbours.latency.p99)}`,
        ratio(p.neighbours.latency.p99, alone?.neighbours.latency.p99),
        `${n0(p.neighbours.sent)} / ${n0(p.neighbours.delivered)} / ${n0(p.neighbours.lost)}`,
        n1(p.neighbours.ack.p50),
        p.flooder ? `${n0(p.flooder.sent)} / ${n0(p.flooder.delivered)} / ${n0(p.flooder.refused)}` : '–',
        n1(p.cpuPct),
        p.loop ? n1(p.loop.loopP99) : '–',
        p.load1.toFixed(2),
      ]),
    ),
  ].join('\n');
}

export function profileMarkdown(p: ProfileSummary): string {
  const busy = p.totalMs - p.idleMs;
  return [
    `\`${p.file}\`: ${n0(p.totalMs)} ms profiled, ${n0(busy)} ms busy. Self time per function (share of busy time):`,
    '',
    table(
      ['#', 'function', 'where', 'self ms', '%'],
      p.top.map((e, i) => [
        String(i + 1),
        `\`${e.name}\``,
        e.where ? `\`${e.where}\`` : '',
        n0(e.selfMs),
        e.pct.toFixed(1),
      ]),
    ),
    '',
    'By package:',
    '',
    table(
      ['package', 'self ms', '%'],
      p.byPackage.slice(0, 15).map((e) => [e.name, n0(e.selfMs), e.pct.toFixed(1)]),
    ),
  ].join('\n');
}

export function markdown(r: BenchResults): string {
  const m = r.machine;
  const out: string[] = [
    `Run ${r.startedAt} (${Math.round(r.durationS)} s), revision ${r.revision}${r.quick ? ', **quick mode**: small figures for a smoke test' : ''}.`,
    '',
    `Machine: ${m.nproc} × ${m.cpuModel}, ${m.memGiB} GiB, Node ${m.node}, ${m.platform}. ` +
      `Load average (1 min): ${r.load.before} before the run, ${r.load.mean} mean and ${r.load.max} max during it (the bench itself accounts for up to ~2).`,
    '',
    `Command: \`${r.command}\``,
    '',
    '### Goals',
    '',
    table(
      ['goal', 'measured', 'met'],
      r.goals.map((g) => [
        g.goal,
        g.measured + (g.note ? ` — ${g.note}` : ''),
        g.met === null ? 'not measured' : g.met ? 'yes' : '**no**',
      ]),
    ),
  ];
  if (r.ingest) out.push('', '### Ingest', '', ingestMarkdown(r.ingest));
  if (r.fanout) out.push('', '### Fan-out', '', fanoutMarkdown(r.fanout));
  if (r.history) out.push('', '### History', '', historyMarkdown(r.history));
  if (r.isolation) out.push('', '### Isolation', '', isolationMarkdown(r.isolation));
  if (r.profile) {
    out.push('', '### Gateway profile (ingest scenario)', '');
    out.push('error' in r.profile ? `No profile: ${r.profile.error}` : profileMarkdown(r.profile));
  }
  return out.join('\n') + '\n';
}

// -------------------------------------------------------------------------------------------------------------- SVG

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Throughput (delivered readings/s) against p99 latency (log scale), one line per ingest run. */
export function chartSvg(ing: IngestResult, title: string): string {
  const W = 760;
  const H = 440;
  const m = { l: 70, r: 190, t: 40, b: 55 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const pts = ing.runs.flatMap((r) => r.steps).filter((s) => Number.isFinite(s.latency.p99) && s.latency.p99 > 0);
  const xMax = niceCeil(Math.max(1000, ...pts.map((s) => s.deliveredRate)));
  const yMin = 1;
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(10, ...pts.map((s) => s.latency.p99))));
  const x = (v: number): number => m.l + (v / xMax) * pw;
  const y = (v: number): number =>
    m.t + ph - ((Math.log10(Math.max(yMin, v)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph;
  const f = (v: number): string => v.toFixed(1);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="22" font-size="14" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (xMax / 5) * i;
    parts.push(`<line x1="${f(x(v))}" y1="${m.t}" x2="${f(x(v))}" y2="${m.t + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${f(x(v))}" y="${m.t + ph + 18}" text-anchor="middle">${n0(v)}</text>`);
  }
  for (let v = yMin; v <= yMax; v *= 10) {
    parts.push(`<line x1="${m.l}" y1="${f(y(v))}" x2="${m.l + pw}" y2="${f(y(v))}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 8}" y="${f(y(v) + 4)}" text-anchor="end">${n0(v)}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">readings/s delivered</text>`);
  parts.push(
    `<text transform="translate(18 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">p99 latency, ms (log)</text>`,
  );
  ing.runs.forEach((r, i) => {
    const c = COLORS[i % COLORS.length];
    const sp = r.steps.filter((s) => Number.isFinite(s.latency.p99) && s.latency.p99 > 0);
    if (sp.length) {
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${sp.map((s) => `${f(x(s.deliveredRate))},${f(y(s.latency.p99))}`).join(' ')}"/>`,
      );
      for (const s of sp) {
        parts.push(
          `<circle cx="${f(x(s.deliveredRate))}" cy="${f(y(s.latency.p99))}" r="3.5" fill="${s.sustained ? c : 'white'}" stroke="${c}" stroke-width="1.5"><title>${esc(`${r.id} at ${n0(s.offered)}/s offered: ${n0(s.deliveredRate)}/s delivered, p99 ${n1(s.latency.p99)} ms`)}</title></circle>`,
        );
      }
    }
    const ly = m.t + 10 + i * 20;
    parts.push(
      `<line x1="${m.l + pw + 15}" y1="${ly}" x2="${m.l + pw + 40}" y2="${ly}" stroke="${c}" stroke-width="2"/>`,
    );
    parts.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">${esc(r.id)}</text>`);
  });
  const ly = m.t + 20 + ing.runs.length * 20;
  parts.push(`<circle cx="${m.l + pw + 27}" cy="${ly}" r="3.5" fill="white" stroke="#555" stroke-width="1.5"/>`);
  parts.push(`<text x="${m.l + pw + 46}" y="${ly + 4}">not sustained</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const k of [1, 2, 2.5, 5, 10]) if (k * p >= v) return k * p;
  return 10 * p;
}

// ------------------------------------------------------------------------------------------------------------- docs

export const DOCS_BEGIN =
  '<!-- bench:begin (written by `npm run bench -- --update-docs`; edit outside these markers) -->';
export const DOCS_END = '<!-- bench:end -->';

/** Replaces the generated part of docs/performance.md, keeping the prose around it. */
export function updateDocs(existing: string | null, generated: string): string {
  const block = `${DOCS_BEGIN}\n\n${generated.trim()}\n\n${DOCS_END}`;
  if (existing === null) return `# Performance\n\n${block}\n`;
  const a = existing.indexOf(DOCS_BEGIN);
  const b = existing.indexOf(DOCS_END);
  if (a < 0 || b < a) return `${existing.trimEnd()}\n\n${block}\n`;
  return existing.slice(0, a) + block + existing.slice(b + DOCS_END.length);
}
