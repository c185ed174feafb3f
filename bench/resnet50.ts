/**
 * `npm run bench`: ResNet-50 training and inference speed of this project against PyTorch and ONNX Runtime.
 *
 * ResNet-50 of the spec at 64x64x3, batch 32, fp32, 6 classes. Each side and mode runs in its own child process,
 * so that each peak RSS belongs to that measurement alone:
 * - ours: `model.trainOnBatch` (Adam, categorical cross-entropy) and `model.predict` on the fastest backend,
 *   `initBackend('auto')` (`bench/ours.ts`);
 * - PyTorch: Debian's python3-torch running an exact twin of the spec's model, channels_last, all cores
 *   (`bench/torch_resnet50.py`);
 * - ONNX Runtime: onnxruntime-node running that twin exported to ONNX, intra-op threads = cores (`bench/ort.ts`).
 * The whole set of measuring children runs `--rounds` times (default 3), interleaved so that slow drift in the load
 * of a shared machine falls on every side alike: round 1 runs ours, PyTorch, ONNX Runtime; round 2 the reverse
 * (ONNX Runtime, PyTorch, ours); and so on, alternating. For each side and mode the report keeps every round's
 * result (`rounds`) and shows the median round (`results`: the round whose median step time is the median over
 * rounds, the lower-middle one for an even count, with the largest peak RSS of all rounds). The two target ratios
 * (ours/PyTorch training step, ours/ONNX Runtime inference) are taken within each round, from same-round pairs only,
 * and summarized as the median of those per-round ratios with their min and max; the other ratios come from the
 * median rounds. A side that fails in a round is noted as skipped, naming the round, and the rest goes on; a side
 * that refuses (ours on the plain 'cpu' backend) is left out of the later rounds.
 * It ends with a table of medians, peak RSS and the ratios against the targets and the oneDNN convolution floor,
 * also written as JSON (default `bench/.cache/latest.json`, written to a temporary file and renamed). `--help` lists
 * the options.
 *
 * The floor is the issue's figure unless `--measure-floor` measures it in the same run, once, before the rounds (as
 * is the ONNX export): it builds and runs `shared/tools/onednn-conv-floor` (oneDNN's own convolutions for these 53
 * layers, NHWC, caches flushed before each call as in a real step) and takes its training step with weight reorders
 * and its inference with cached weights.
 * `--spin` runs our side with OpenMP threads spinning between kernels (GOMP_SPINCOUNT=300000, what GNU OpenMP does
 * by default and so what PyTorch's threads do here) instead of the backend's default passive waiting.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT_REFUSED, type SideResult, median, nonNegativeInt, parseResult, positiveInt } from './common.js';

/** Repository root (this file runs as dist/bench/resnet50.js). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
/** Debian's Python, which has python3-torch (not the pyenv python3 on PATH). */
const PYTHON = '/usr/bin/python3';
const TORCH_SCRIPT = join(ROOT, 'bench', 'torch_resnet50.py');
const SETUP_SCRIPT = join(ROOT, 'scripts', 'bench-setup.sh');
/** The oneDNN convolution floor tool, in the shared folder beside the repository. */
const FLOOR_SOURCE = join(ROOT, '..', 'shared', 'tools', 'onednn-conv-floor', 'bench.cpp');
/** GNU OpenMP's spin count when OMP_WAIT_POLICY is unset (its documented default), used by `--spin`. */
export const GOMP_DEFAULT_SPINCOUNT = '300000';

/** Per-step times of oneDNN 2.6.3's own convolutions for this model on this 2-core machine
 * (shared/tools/onednn-conv-floor): about 0.3 s per training step and 0.1 s per inference batch. */
export const ONEDNN_FLOOR_MS = { train: 300, infer: 100 } as const;
/** Targets: our training step at most half PyTorch's, our inference no slower than ONNX Runtime's. */
export const TARGETS = { trainVsTorch: 0.5, inferVsOrt: 1.0 } as const;

/** The sides that can be measured. */
export type Side = 'ours' | 'torch' | 'ort';

/** One side and mode, the key of a result: `ours.train`, `torch.infer`, ... */
export type ResultKey = `${Side}.${'train' | 'infer'}`;

/** The results of one round, by side and mode (a key is absent where that side did not run or failed). */
export type RoundResults = Partial<Record<ResultKey, SideResult>>;

/** Options of `npm run bench`. */
export interface BenchOptions {
  steps: number;
  warmup: number;
  batch: number;
  skipTorch: boolean;
  skipOrt: boolean;
  only?: Side;
  allowCpu: boolean;
  setup: boolean;
  out: string;
  /** The oneDNN convolution floor to compare with, ms per training step and per inference batch. */
  floorTrainMs: number;
  floorInferMs: number;
  /** Measure the floor in this run (shared/tools/onednn-conv-floor) instead of using floorTrainMs/floorInferMs. */
  measureFloor: boolean;
  /** Run our side with spinning OpenMP threads (GOMP_SPINCOUNT=300000). */
  spin: boolean;
  /** How many interleaved rounds of all measuring children to run (>= 1). */
  rounds: number;
}

/** One ratio of the summary. */
export interface Ratio {
  name: string;
  value: number | null;
  target: number | null;
  /** true/false against the target; null where there is no target or no value. */
  met: boolean | null;
  /** Smallest per-round ratio (only for ratios taken within each round). */
  min?: number;
  /** Largest per-round ratio (only for ratios taken within each round). */
  max?: number;
  /** How many rounds had both sides, so gave a per-round ratio (only for ratios taken within each round). */
  rounds?: number;
}

/** Everything the benchmark found, as written to the JSON file. */
export interface BenchReport {
  date: string;
  machine: { cpu: string; cores: number; loadAvgStart: number[]; loadAvgEnd: number[] };
  config: {
    model: string; input: number[]; batch: number; classes: number; dtype: string; steps: number; warmup: number;
    floorMs: { train: number; infer: number };
    /** Where floorMs comes from: 'measured' in this run, or 'given' (options or the issue's figures). */
    floorSource?: 'measured' | 'given';
    /** How our side's OpenMP threads wait between kernels. */
    oursOpenMP?: 'passive' | 'spin';
    /** How many interleaved rounds were asked for (`--rounds`). */
    rounds?: number;
  };
  /**
   * The median round of each side and mode (see {@link combineRounds}): that round's result, with `peakRssMiB` the
   * largest over all rounds and `round` the (1-based) round it comes from.
   */
  results: RoundResults;
  /** Why a side and mode has no result, or failed in some rounds (then naming them). */
  skipped: Partial<Record<ResultKey, string>>;
  /** Every round's results, in the order run (absent in reports written before rounds existed). */
  rounds?: RoundResults[];
  ratios: Ratio[];
}

const SIZE = 64;
const CLASSES = 6;

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** Outcome of one child process: its result, or why there is none. */
type ChildOutcome = { result: SideResult } | { refused: string } | { failed: string };

/** Runs a measuring child, passing its stderr through and echoing its other stdout lines after `prefix`. */
function runChild(prefix: string, command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ChildOutcome> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
    let stdout = '';
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (!line.startsWith('BENCH_RESULT ') && line.trim()) say(`${prefix} ${line}`);
    });
    child.on('error', (err) => resolvePromise({ failed: `${command}: ${err.message}` }));
    child.on('close', (code, signal) => {
      if (code === EXIT_REFUSED) return resolvePromise({ refused: 'refused (see its message above)' });
      if (code !== 0) return resolvePromise({ failed: `exited with ${signal ?? code}` });
      const result = parseResult(stdout);
      resolvePromise(result ? { result } : { failed: 'printed no result' });
    });
  });
}

/** Whether a command succeeds (quietly). */
function succeeds(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { cwd: ROOT, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses the floor tool's summary line for NHWC activations, e.g. `#STEP nhwc train: prim-only=160.6 ms
 * with-reorders=178.6 ms | inference: prim-only=50.1 ms with-reorders=58.6 ms (with act-reorders only, weights
 * pre-reordered: 50.1 ms)`: the training step with its weight reorders, and inference with weights reordered once.
 */
export function parseFloor(output: string): { train: number; infer: number } | null {
  const m = /#STEP nhwc train:.*?with-reorders=([\d.]+) ms.*?weights pre-reordered: ([\d.]+) ms/.exec(output);
  return m ? { train: Number(m[1]), infer: Number(m[2]) } : null;
}

/**
 * Builds (once, into bench/.cache/) and runs the oneDNN convolution floor tool with every core and flushed caches.
 * @throws naming what is missing or what failed
 */
function measureFloor(): { train: number; infer: number } {
  if (!existsSync(FLOOR_SOURCE)) throw new Error(`${FLOOR_SOURCE} not found`);
  const binary = join(ROOT, 'bench', '.cache', 'conv-floor');
  mkdirSync(dirname(binary), { recursive: true });
  if (!existsSync(binary) || statSync(binary).mtimeMs < statSync(FLOOR_SOURCE).mtimeMs) {
    say(`[floor] building ${FLOOR_SOURCE}`);
    execFileSync(process.env.CXX || 'g++', ['-O2', '-std=c++17', '-fopenmp', '-o', binary, FLOOR_SOURCE, '-ldnnl'], { stdio: 'inherit' });
  }
  say('[floor] measuring oneDNN\'s own convolutions (about two minutes)');
  const output = execFileSync(binary, ['--target_ms=300', '--nomm', '--flush'], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: `${availableParallelism()}` },
    maxBuffer: 64 * 1024 * 1024,
  });
  const floor = parseFloor(output);
  if (floor === null) throw new Error('the floor tool printed no "#STEP nhwc" line');
  return floor;
}

/**
 * The ONNX file of the PyTorch twin, exported once and cached under bench/.cache/ (its name carries a hash of the
 * twin's source, so that a changed twin is exported anew).
 */
async function onnxModel(): Promise<string> {
  const hash = createHash('sha256').update(readFileSync(TORCH_SCRIPT)).digest('hex').slice(0, 12);
  const file = join(ROOT, 'bench', '.cache', `resnet50-${SIZE}x${SIZE}x3-c${CLASSES}-${hash}.onnx`);
  if (existsSync(file)) return file;
  mkdirSync(dirname(file), { recursive: true });
  for (const name of readdirSync(dirname(file))) { // exports of an older twin
    if (/^resnet50-.*\.onnx$/.test(name)) rmSync(join(dirname(file), name), { force: true });
  }
  say(`[ort] exporting the PyTorch twin to ${file}`);
  const outcome = await runChild('[torch]', PYTHON, [TORCH_SCRIPT, 'export', '--onnx', file, '--classes', `${CLASSES}`]);
  if (!('result' in outcome)) throw new Error(`ONNX export failed: ${'failed' in outcome ? outcome.failed : outcome.refused}`);
  return file;
}

function fmtMs(r: SideResult | undefined): string {
  return r ? `${r.medianMs.toFixed(0)} ms` : '-';
}

function fmtMiB(r: SideResult | undefined): string {
  return r ? `${r.peakRssMiB.toFixed(0)} MiB` : '-';
}

/**
 * Lays out rows as a plain-text table with a header line: the first and last columns left-aligned, the others
 * (numbers) right-aligned.
 */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const last = header.length - 1;
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 || i === last ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** The modes each side measures, in the order they run within a round. */
export const SIDE_MODES: Readonly<Record<Side, readonly ('train' | 'infer')[]>> = {
  ours: ['train', 'infer'],
  torch: ['train', 'infer'],
  ort: ['infer'],
};

/**
 * The order in which the sides run in round `round` (1-based): ours, PyTorch, ONNX Runtime in odd rounds and the
 * reverse in even ones, so that a slow drift in the machine's load weighs on every side alike.
 */
export function roundOrder(round: number): Side[] {
  const order: Side[] = ['ours', 'torch', 'ort'];
  return round % 2 === 1 ? order : order.reverse();
}

/**
 * The median round of one side and mode, from each round's result (undefined where that round has none): a copy of
 * the result whose `medianMs` is the median over the rounds that have one — for an even count the lower-middle one,
 * so that it is a measured round and not an average of two; equal times go to the earlier round — with `peakRssMiB`
 * the largest of all those rounds and `round` the (1-based) round it comes from.
 * @returns undefined when no round has a result
 */
export function medianRound(perRound: ReadonlyArray<SideResult | undefined>): SideResult | undefined {
  const present = perRound.flatMap((result, i) => (result === undefined ? [] : [{ result, round: i + 1 }]));
  if (present.length === 0) return undefined;
  const sorted = [...present].sort((a, b) => a.result.medianMs - b.result.medianMs || a.round - b.round);
  const chosen = sorted[(sorted.length - 1) >> 1];
  return { ...chosen.result, peakRssMiB: Math.max(...present.map((p) => p.result.peakRssMiB)), round: chosen.round };
}

/** The median round ({@link medianRound}) of every side and mode that has a result in at least one round. */
export function combineRounds(rounds: readonly RoundResults[]): RoundResults {
  const keys = new Set(rounds.flatMap((r) => Object.keys(r) as ResultKey[]));
  const results: RoundResults = {};
  for (const key of keys) results[key] = medianRound(rounds.map((r) => r[key]));
  return results;
}

/** A ratio taken within each round, summarized over the rounds. */
export interface RoundRatio {
  /** Median of the per-round ratios (the mean of the two middle ones for an even count). */
  value: number;
  min: number;
  max: number;
  /** How many rounds had both sides. */
  rounds: number;
}

/**
 * `numerator / denominator` of median step times, taken within each round that has results for both (same-round
 * pairs only), and summarized as the median of those per-round ratios with their min and max.
 * @returns null when no round has both
 */
export function roundRatio(
  rounds: readonly RoundResults[],
  numerator: ResultKey,
  denominator: ResultKey,
): RoundRatio | null {
  const perRound = rounds.flatMap((r) => {
    const a = r[numerator];
    const b = r[denominator];
    return a !== undefined && b !== undefined ? [a.medianMs / b.medianMs] : [];
  });
  if (perRound.length === 0) return null;
  return { value: median(perRound), min: Math.min(...perRound), max: Math.max(...perRound), rounds: perRound.length };
}

/** Why a side and mode has no result in one round (1-based). */
export interface RoundSkip {
  round: number;
  why: string;
}

/**
 * The note of a side and mode that had no result in some of `rounds` rounds: each distinct reason once, in the order
 * first seen, followed by the rounds it happened in unless it happened in all of them, e.g.
 * `failed: exited with 1 (round 2 of 3)` or `failed: exited with 1 (rounds 1, 3 of 3)`; reasons joined by `; `.
 */
export function skipNote(skips: readonly RoundSkip[], rounds: number): string {
  const byWhy = new Map<string, number[]>();
  for (const { round, why } of skips) byWhy.set(why, [...(byWhy.get(why) ?? []), round]);
  return [...byWhy].map(([why, rs]) => {
    const distinct = [...new Set(rs)].sort((a, b) => a - b);
    if (distinct.length === rounds) return why;
    return `${why} (round${distinct.length === 1 ? '' : 's'} ${distinct.join(', ')} of ${rounds})`;
  }).join('; ');
}

/**
 * The ratios of the summary, from whatever results there are, with `floor` as the oneDNN convolution floor.
 *
 * Without `rounds`, every ratio comes from `results`. With `rounds`, the two target ratios (ours / PyTorch training
 * step, ours / ONNX Runtime inference) are taken within each round instead ({@link roundRatio}): `value` is the median
 * of the per-round ratios, with `min`, `max` and `rounds`; the others still come from `results` (the median rounds).
 */
export function ratios(
  results: BenchReport['results'],
  floor: { train: number; infer: number } = ONEDNN_FLOOR_MS,
  rounds?: readonly RoundResults[],
): Ratio[] {
  const ms = (key: ResultKey): number | undefined => results[key]?.medianMs;
  const met = (value: number | null, target: number | null): boolean | null =>
    value === null || target === null ? null : value <= target;
  const ratio = (name: string, a: number | undefined, b: number | undefined, target: number | null): Ratio => {
    const value = a !== undefined && b !== undefined ? a / b : null;
    return { name, value, target, met: met(value, target) };
  };
  const target = (name: string, a: ResultKey, b: ResultKey, goal: number): Ratio => {
    if (rounds === undefined) return ratio(name, ms(a), ms(b), goal);
    const r = roundRatio(rounds, a, b);
    if (r === null) return { name, value: null, target: goal, met: null };
    return { name, value: r.value, target: goal, met: met(r.value, goal), min: r.min, max: r.max, rounds: r.rounds };
  };
  return [
    target('ours train step / PyTorch train step', 'ours.train', 'torch.train', TARGETS.trainVsTorch),
    target('ours inference / ONNX Runtime inference', 'ours.infer', 'ort.infer', TARGETS.inferVsOrt),
    ratio(`ours train step / oneDNN conv floor (${floor.train} ms)`, ms('ours.train'), floor.train, null),
    ratio(`ours inference / oneDNN conv floor (${floor.infer} ms)`, ms('ours.infer'), floor.infer, null),
    ratio('PyTorch train step / oneDNN conv floor', ms('torch.train'), floor.train, null),
    ratio('PyTorch inference / ONNX Runtime inference', ms('torch.infer'), ms('ort.infer'), null),
  ];
}

/**
 * A ratio's value as the summary prints it: two decimals, and for a ratio taken within each round its spread,
 * e.g. `0.94 (0.89-0.97, 3 rounds)` or `0.94 (1 round)`; `-` where there is no value.
 */
export function formatRatio(q: Ratio): string {
  if (q.value === null) return '-';
  const value = q.value.toFixed(2);
  if (q.rounds === undefined) return value;
  if (q.rounds === 1 || q.min === undefined || q.max === undefined) return `${value} (${q.rounds} round${q.rounds === 1 ? '' : 's'})`;
  return `${value} (${q.min.toFixed(2)}-${q.max.toFixed(2)}, ${q.rounds} rounds)`;
}

/** The summary tables of a report. */
export function summary(report: BenchReport): string {
  const r = report.results;
  const sideName = {
    ours: `ours ${String(r['ours.train']?.backend ?? r['ours.infer']?.backend ?? '')}`.trimEnd() +
      (report.config.oursOpenMP === 'spin' ? ' (spin)' : ''),
    torch: `PyTorch ${String(r['torch.train']?.torch ?? r['torch.infer']?.torch ?? '')}`.trimEnd(),
    ort: `ONNX Runtime ${String(r['ort.infer']?.onnxruntime ?? '')}`.trimEnd(),
  };
  const rows = (['ours', 'torch', 'ort'] as const).map((side) => {
    const train = r[`${side}.train`];
    const infer = r[`${side}.infer`];
    const notes = [report.skipped[`${side}.train`], report.skipped[`${side}.infer`]].filter((n) => n !== undefined);
    const ran = train !== undefined || infer !== undefined;
    // Our training step: compiled (what train() runs), or tfjs-layers' trainOnBatch where it could not compile.
    const step = side === 'ours' && train?.trainStep !== undefined ? [`train step ${String(train.trainStep)}`] : [];
    const note = [...new Set([...step, ...notes])].join('; ') || (ran ? '' : 'not run');
    return [sideName[side], fmtMs(train), fmtMs(infer), fmtMiB(train), fmtMiB(infer), note];
  });
  const ratioRows = report.ratios.map((q) => [
    q.name,
    formatRatio(q),
    q.target === null ? '' : `<= ${q.target.toFixed(1)}`,
    q.met === null ? '' : q.met ? 'met' : 'NOT met',
  ]);
  const c = report.config;
  return [
    `ResNet-50 ${c.input.join('x')}, batch ${c.batch}, ${c.dtype}, ${c.classes} classes; medians of ${c.steps} steps ` +
      `after ${c.warmup} warm-up; ` +
      (c.rounds === undefined ? '' : `median of ${c.rounds} interleaved round${c.rounds === 1 ? '' : 's'} (peak RSS: the largest); `) +
      `${report.machine.cores} cores (${report.machine.cpu}); load average ` +
      `${report.machine.loadAvgStart[0].toFixed(2)} at start, ${report.machine.loadAvgEnd[0].toFixed(2)} at end`,
    `oneDNN conv floor: ${c.floorSource === 'measured' ? 'measured in this run (caches flushed)' : "given (the issue's figures unless set; --measure-floor measures it)"}; ` +
      `our OpenMP threads ${c.oursOpenMP === 'spin' ? `spin (GOMP_SPINCOUNT=${GOMP_DEFAULT_SPINCOUNT})` : 'wait passively (the default)'}`,
    '',
    table(['side', 'train step', 'inference', 'peak RSS train', 'peak RSS infer', 'note'], rows),
    '',
    table(['ratio', 'value', 'target', ''], ratioRows),
  ].join('\n');
}

/** Parses the command line of `npm run bench`. @throws commander's error on bad usage */
export function parseOptions(argv: string[]): BenchOptions {
  const int = (option: string, parse: (o: string, t: string) => number) => (text: string): number => {
    try {
      return parse(option, text);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
  const program = new Command('bench')
    .description('ResNet-50 (64x64x3, fp32, 6 classes) training and inference: this project vs PyTorch and ONNX Runtime')
    .option('--steps <n>', 'measured steps per side and mode', int('--steps', positiveInt), 10)
    .option('--warmup <n>', 'untimed warm-up steps before them', int('--warmup', nonNegativeInt), 3)
    .option('--batch <n>', 'images per batch', int('--batch', positiveInt), 32)
    .option('--skip-torch', 'do not run the PyTorch side', false)
    .option('--skip-ort', 'do not run the ONNX Runtime side', false)
    .addOption(new Option('--only <side>', 'run only this side').choices(['ours', 'torch', 'ort']))
    .option('--allow-cpu', "let our side run on tfjs's plain 'cpu' backend (minutes per step)", false)
    .option('--no-setup', 'do not run scripts/bench-setup.sh (which installs PyTorch and onnxruntime-node if missing)')
    .option('--floor-train-ms <ms>', 'oneDNN convolution floor of a training step on this machine', int('--floor-train-ms', positiveInt), ONEDNN_FLOOR_MS.train)
    .option('--floor-infer-ms <ms>', 'oneDNN convolution floor of an inference batch on this machine', int('--floor-infer-ms', positiveInt), ONEDNN_FLOOR_MS.infer)
    .option('--measure-floor', 'measure the oneDNN convolution floor in this run (shared/tools/onednn-conv-floor)', false)
    .option('--rounds <n>', 'interleaved rounds of all measuring children (ours, torch, ort; then the reverse; ...): ' +
      'the report shows the median round, and the target ratios as the median of the per-round ratios with their range',
    int('--rounds', positiveInt), 3)
    .option('--spin', `run our side with spinning OpenMP threads (GOMP_SPINCOUNT=${GOMP_DEFAULT_SPINCOUNT}, GNU OpenMP's default)`, false)
    .option('--out <file>', 'where to write the JSON report', join(ROOT, 'bench', '.cache', 'latest.json'))
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  program.parse(argv, { from: 'user' });
  const o = program.opts<Omit<BenchOptions, 'only'> & { only?: Side }>();
  return { ...o, out: resolve(o.out) };
}

/** Runs the benchmark. @returns the exit code: 0, or 1 when a side that was asked for failed */
export async function main(argv: string[]): Promise<number> {
  let o: BenchOptions;
  try {
    o = parseOptions(argv);
  } catch (err) {
    const code = (err as { exitCode?: number }).exitCode;
    return code === 0 ? 0 : 2; // --help exits 0; commander has printed the message
  }
  const wanted = (side: Side): boolean =>
    o.only !== undefined ? o.only === side : !(side === 'torch' && o.skipTorch) && !(side === 'ort' && o.skipOrt);

  /** Every round's results, in the order run (also the report's `rounds`). */
  const rounds: RoundResults[] = [];
  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), loadAvgStart: loadavg(), loadAvgEnd: [] },
    config: { model: 'ResNet50', input: [SIZE, SIZE, 3], batch: o.batch, classes: CLASSES, dtype: 'float32', steps: o.steps, warmup: o.warmup,
      floorMs: { train: o.floorTrainMs, infer: o.floorInferMs }, floorSource: 'given', oursOpenMP: o.spin ? 'spin' : 'passive', rounds: o.rounds },
    results: {},
    skipped: {},
    rounds,
    ratios: [],
  };
  say(`ResNet-50 benchmark: batch ${o.batch}, ${o.steps} steps after ${o.warmup} warm-up, ${o.rounds} round${o.rounds === 1 ? '' : 's'}, ` +
    `${report.machine.cores} cores, ` +
    `load average ${report.machine.loadAvgStart.map((l) => l.toFixed(2)).join(' ')}`);

  if (o.setup && (wanted('torch') || wanted('ort'))) {
    say('running scripts/bench-setup.sh');
    if (!succeeds('bash', [SETUP_SCRIPT])) say('bench-setup.sh could not install everything (see above); going on with what is there');
  }
  if (o.measureFloor) {
    try {
      report.config.floorMs = measureFloor();
      report.config.floorSource = 'measured';
      say(`[floor] training step ${report.config.floorMs.train} ms, inference ${report.config.floorMs.infer} ms`);
    } catch (err) {
      say(`[floor] not measured (${(err as Error).message}); using ${o.floorTrainMs} / ${o.floorInferMs} ms`);
    }
  }
  const hasTorch = succeeds(PYTHON, ['-c', 'import torch']);
  const hasOrt = succeeds(process.execPath, ['-e', "require('onnxruntime-node')"]);

  let failed = false;
  const childArgs = ['--batch', `${o.batch}`, '--steps', `${o.steps}`, '--warmup', `${o.warmup}`, '--size', `${SIZE}`, '--classes', `${CLASSES}`];
  /** Skips decided for the whole run (a side that cannot run, or refused); they win over per-round notes. */
  const skipped: BenchReport['skipped'] = {};
  /** Failures in single rounds, merged into notes by skipNote at the end. */
  const roundSkips: Partial<Record<ResultKey, RoundSkip[]>> = {};
  const skip = (key: ResultKey, why: string): void => {
    skipped[key] = why;
    say(`[${key}] skipped: ${why}`);
  };

  // Decided once, before the rounds: which sides can run at all, and the ONNX export that ONNX Runtime runs.
  const runnable = new Set<Side>();
  if (wanted('ours')) runnable.add('ours');
  if (wanted('torch')) {
    if (hasTorch) runnable.add('torch');
    else for (const mode of SIDE_MODES.torch) skip(`torch.${mode}`, `${PYTHON} cannot import torch (scripts/bench-setup.sh installs python3-torch)`);
  }
  let onnxFile: string | undefined;
  if (wanted('ort')) {
    if (!hasOrt) skip('ort.infer', 'onnxruntime-node is not installed (npm install)');
    else if (!hasTorch) skip('ort.infer', `the ONNX export needs PyTorch, and ${PYTHON} cannot import torch`);
    else {
      try {
        onnxFile = await onnxModel();
        runnable.add('ort');
      } catch (err) {
        skipped['ort.infer'] = `failed: ${(err as Error).message}`;
        say(`[ort.infer] failed: ${(err as Error).message}`);
        failed = true;
      }
    }
  }

  /** The command, arguments and environment of the child measuring `side` in `mode`. */
  const child = (side: Side, mode: 'train' | 'infer'): [string, string[], NodeJS.ProcessEnv] => {
    switch (side) {
      case 'ours': {
        const env = o.spin ? { ...process.env, OMP_WAIT_POLICY: undefined, GOMP_SPINCOUNT: GOMP_DEFAULT_SPINCOUNT } : process.env;
        const script = fileURLToPath(new URL('./ours.js', import.meta.url));
        return [process.execPath, [script, '--mode', mode, ...childArgs, ...(o.allowCpu ? ['--allow-cpu'] : [])], env];
      }
      case 'torch':
        return [PYTHON, [TORCH_SCRIPT, mode, ...childArgs], process.env];
      case 'ort': {
        const script = fileURLToPath(new URL('./ort.js', import.meta.url));
        return [process.execPath, [script, '--mode', mode, '--onnx', onnxFile ?? '', ...childArgs], process.env];
      }
    }
  };

  for (let round = 1; round <= o.rounds; round++) {
    const tag = `[round ${round}/${o.rounds}]`;
    const results: RoundResults = {};
    rounds.push(results);
    const order = roundOrder(round).filter((side) => runnable.has(side));
    say(`${tag} ${order.length > 0 ? order.join(', ') : 'nothing to run'}`);
    for (const side of order) {
      for (const mode of SIDE_MODES[side]) {
        const key: ResultKey = `${side}.${mode}`;
        say(`${tag} [${key}] starting`);
        const [command, args, env] = child(side, mode);
        const outcome = await runChild(`${tag} [${side}]`, command, args, env);
        if ('result' in outcome) {
          results[key] = outcome.result;
          say(`${tag} [${key}] median ${outcome.result.medianMs.toFixed(1)} ms, peak RSS ${outcome.result.peakRssMiB.toFixed(0)} MiB`);
        } else if ('refused' in outcome) {
          // Only our side refuses (the plain 'cpu' backend without --allow-cpu), and it would refuse every mode in
          // every round: it is dropped from the rest of the run.
          const why = side === 'ours' ? "refused: plain 'cpu' backend (--allow-cpu)" : outcome.refused;
          for (const m of SIDE_MODES[side]) skipped[`${side}.${m}`] = why;
          runnable.delete(side);
          say(`${tag} [${key}] ${why}`);
          break;
        } else {
          (roundSkips[key] ??= []).push({ round, why: `failed: ${outcome.failed}` });
          say(`${tag} [${key}] failed: ${outcome.failed}`);
          failed = true;
        }
      }
    }
    const pairs = [
      ['ours/PyTorch train', roundRatio([results], 'ours.train', 'torch.train')],
      ['ours/ONNX Runtime infer', roundRatio([results], 'ours.infer', 'ort.infer')],
    ] as const;
    const done = pairs.flatMap(([name, r]) => (r === null ? [] : [`${name} ${r.value.toFixed(2)}`]));
    if (done.length > 0) say(`${tag} ${done.join(', ')}`);
  }

  report.results = combineRounds(rounds);
  for (const [key, skips] of Object.entries(roundSkips) as [ResultKey, RoundSkip[]][]) {
    if (skipped[key] === undefined) skipped[key] = skipNote(skips, o.rounds);
  }
  report.skipped = skipped;
  report.machine.loadAvgEnd = loadavg();
  report.ratios = ratios(report.results, report.config.floorMs, rounds);
  say('');
  say(summary(report));
  mkdirSync(dirname(o.out), { recursive: true });
  const tmp = `${o.out}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(report, null, 2) + '\n');
  renameSync(tmp, o.out);
  say(`\nwrote ${o.out}`);
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
