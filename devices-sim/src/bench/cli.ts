import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { LoadSampler, machineInfo } from './machine';
import { evaluateGoals } from './goals';
import { UsageError } from '../args';
import { type BenchOptions, parseBenchArgs, USAGE } from './options';
import { newestProfile, readProfile, summariseProfile } from './profile';
import { repoRoot } from './procs';
import { type BenchResults, chartSvg, markdown, updateDocs } from './report';
import type { BenchContext } from './scenarios/context';
import { fanoutScenario } from './scenarios/fanout';
import { historyScenario } from './scenarios/history';
import { ingestScenario } from './scenarios/ingest';
import { isolationScenario } from './scenarios/isolation';

/** The commit the bench ran on, `+dirty` when the work tree had changes (BENCH_REVISION overrides). */
function revision(root: string): string {
  if (process.env.BENCH_REVISION) return process.env.BENCH_REVISION;
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd: root,
      encoding: 'utf8',
    }).trim();
    return dirty ? `${head}+dirty` : head;
  } catch {
    return 'unknown';
  }
}

/** Formats Markdown with the repository's Prettier settings, so that `npm run lint` stays green after --update-docs. */
async function formatMarkdown(text: string, file: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...options, filepath: file });
  } catch {
    return text;
  }
}

/** Runs the selected scenarios; returns the results and the scenarios that failed. */
export async function runBench(
  o: BenchOptions,
  log: (m: string) => void,
): Promise<{ results: BenchResults; failed: string[] }> {
  const root = repoRoot();
  const outDir = resolve(root, o.outDir);
  mkdirSync(outDir, { recursive: true });
  const started = new Date();
  const t0 = performance.now();
  const load = new LoadSampler().start();
  const ctx: BenchContext = { log, load1: () => load.now(), profileDir: join(outDir, 'prof') };
  const partial: Omit<BenchResults, 'goals'> = {
    startedAt: started.toISOString(),
    durationS: 0,
    command: ['npm run bench', ...(o.argv.length ? ['--', ...o.argv] : [])].join(' '),
    revision: revision(root),
    machine: machineInfo(),
    load: load.summary(),
    quick: o.quick,
  };
  const failed: string[] = [];
  const attempt = async (name: string, fn: () => Promise<void>): Promise<void> => {
    if (!o.scenarios.includes(name as BenchOptions['scenarios'][number])) return;
    const s0 = performance.now();
    try {
      await fn();
      log(`${name}: done in ${((performance.now() - s0) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed.push(name);
      log(`${name}: FAILED: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  };
  await attempt('ingest', async () => {
    partial.ingest = await ingestScenario(o, ctx);
    if (o.profile) {
      const file = newestProfile(ctx.profileDir, started.getTime());
      partial.profile = file
        ? summariseProfile(readProfile(file), relative(root, file), root, 15)
        : { error: `no .cpuprofile written to ${ctx.profileDir}` };
    }
  });
  await attempt('fanout', async () => {
    partial.fanout = await fanoutScenario(o, ctx);
  });
  await attempt('history', async () => {
    partial.history = await historyScenario(o, ctx);
  });
  await attempt('isolation', async () => {
    partial.isolation = await isolationScenario(o, ctx);
  });
  partial.load = load.stop();
  partial.durationS = Math.round((performance.now() - t0) / 100) / 10;
  return { results: { ...partial, goals: evaluateGoals(partial) }, failed };
}

async function main(): Promise<number> {
  let o;
  try {
    o = parseBenchArgs(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`bench: ${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (o === null) {
    console.log(USAGE);
    return 0;
  }
  const root = repoRoot();
  const outDir = resolve(root, o.outDir);
  mkdirSync(outDir, { recursive: true });
  let results: BenchResults;
  let failed: string[] = [];
  if (o.reportFrom !== null) {
    // Goals are judged again: the rules may have changed since the file was written.
    const earlier = JSON.parse(readFileSync(resolve(o.reportFrom), 'utf8')) as BenchResults;
    results = { ...earlier, goals: evaluateGoals(earlier) };
  } else {
    ({ results, failed } = await runBench(o, (m) => console.error(m)));
  }
  const md = markdown(results);
  process.stdout.write('\n' + md);
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const files: string[] = [];
  const write = (name: string, text: string): void => {
    for (const n of [`bench-${stamp}.${name}`, `latest.${name}`]) writeFileSync(join(outDir, n), text);
    files.push(join(outDir, `bench-${stamp}.${name}`));
  };
  if (o.reportFrom === null) write('json', JSON.stringify(results, null, 2) + '\n');
  write('md', md);
  const chart = results.ingest
    ? chartSvg(results.ingest, `Fieldline ingest: throughput vs p99 latency (${results.startedAt.slice(0, 16)}Z)`)
    : null;
  if (chart) write('svg', chart);
  if (o.updateDocs) {
    const doc = join(root, 'docs', 'performance.md');
    mkdirSync(join(root, 'docs'), { recursive: true });
    let body = md;
    if (chart) {
      writeFileSync(join(root, 'docs', 'performance-ingest.svg'), chart);
      body = `![Ingest: throughput vs p99 latency](performance-ingest.svg)\n\n${md}`;
    }
    const text = updateDocs(existsSync(doc) ? readFileSync(doc, 'utf8') : null, body);
    writeFileSync(doc, await formatMarkdown(text, doc));
    files.push(doc);
  }
  console.error(`\nwrote ${files.map((f) => relative(root, f)).join(', ')}`);
  if (failed.length) console.error(`failed: ${failed.join(', ')}`);
  return failed.length ? 1 : 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err: unknown) => {
      console.error(err instanceof Error ? err.stack : err);
      process.exit(1);
    },
  );
}
