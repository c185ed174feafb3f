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
 * It ends with a table of medians, peak RSS and the ratios against the targets and the oneDNN convolution floor,
 * also written as JSON (default `bench/.cache/latest.json`). `--help` lists the options.
 *
 * The floor is the issue's figure unless `--measure-floor` measures it in the same run: it builds and runs
 * `shared/tools/onednn-conv-floor` (oneDNN's own convolutions for these 53 layers, NHWC, caches flushed before each
 * call as in a real step) and takes its training step with weight reorders and its inference with cached weights.
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
import { EXIT_REFUSED, type SideResult, nonNegativeInt, parseResult, positiveInt } from './common.js';

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
}

/** One ratio of the summary. */
export interface Ratio {
  name: string;
  value: number | null;
  target: number | null;
  /** true/false against the target; null where there is no target or no value. */
  met: boolean | null;
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
  };
  results: Partial<Record<`${Side}.${'train' | 'infer'}`, SideResult>>;
  skipped: Partial<Record<`${Side}.${'train' | 'infer'}`, string>>;
  ratios: Ratio[];
}

const SIZE = 64;
const CLASSES = 6;

function say(message: string): void {
  process.stdout.write(`${message}\n`);
}

/** Outcome of one child process: its result, or why there is none. */
type ChildOutcome = { result: SideResult } | { refused: string } | { failed: string };

/** Runs a measuring child, passing its stderr through and echoing its other stdout lines. */
function runChild(label: string, command: string, args: string[], env?: NodeJS.ProcessEnv): Promise<ChildOutcome> {
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
      for (const line of lines) if (!line.startsWith('BENCH_RESULT ') && line.trim()) say(`[${label}] ${line}`);
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
  const outcome = await runChild('torch', PYTHON, [TORCH_SCRIPT, 'export', '--onnx', file, '--classes', `${CLASSES}`]);
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

/** The ratios of the summary, from whatever results there are, with `floor` as the oneDNN convolution floor. */
export function ratios(
  results: BenchReport['results'],
  floor: { train: number; infer: number } = ONEDNN_FLOOR_MS,
): Ratio[] {
  const ms = (key: keyof BenchReport['results']): number | undefined => results[key]?.medianMs;
  const ratio = (name: string, a: number | undefined, b: number | undefined, target: number | null): Ratio => {
    const value = a !== undefined && b !== undefined ? a / b : null;
    return { name, value, target, met: value === null || target === null ? null : value <= target };
  };
  return [
    ratio('ours train step / PyTorch train step', ms('ours.train'), ms('torch.train'), TARGETS.trainVsTorch),
    ratio('ours inference / ONNX Runtime inference', ms('ours.infer'), ms('ort.infer'), TARGETS.inferVsOrt),
    ratio(`ours train step / oneDNN conv floor (${floor.train} ms)`, ms('ours.train'), floor.train, null),
    ratio(`ours inference / oneDNN conv floor (${floor.infer} ms)`, ms('ours.infer'), floor.infer, null),
    ratio('PyTorch train step / oneDNN conv floor', ms('torch.train'), floor.train, null),
    ratio('PyTorch inference / ONNX Runtime inference', ms('torch.infer'), ms('ort.infer'), null),
  ];
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
    const note = [...new Set(notes)].join('; ') || (ran ? '' : 'not run');
    return [sideName[side], fmtMs(train), fmtMs(infer), fmtMiB(train), fmtMiB(infer), note];
  });
  const ratioRows = report.ratios.map((q) => [
    q.name,
    q.value === null ? '-' : q.value.toFixed(2),
    q.target === null ? '' : `<= ${q.target.toFixed(1)}`,
    q.met === null ? '' : q.met ? 'met' : 'NOT met',
  ]);
  const c = report.config;
  return [
    `ResNet-50 ${c.input.join('x')}, batch ${c.batch}, ${c.dtype}, ${c.classes} classes; medians of ${c.steps} steps ` +
      `after ${c.warmup} warm-up; ${report.machine.cores} cores (${report.machine.cpu}); load average ` +
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

  const report: BenchReport = {
    date: new Date().toISOString(),
    machine: { cpu: cpus()[0]?.model ?? 'unknown', cores: availableParallelism(), loadAvgStart: loadavg(), loadAvgEnd: [] },
    config: { model: 'ResNet50', input: [SIZE, SIZE, 3], batch: o.batch, classes: CLASSES, dtype: 'float32', steps: o.steps, warmup: o.warmup,
      floorMs: { train: o.floorTrainMs, infer: o.floorInferMs }, floorSource: 'given', oursOpenMP: o.spin ? 'spin' : 'passive' },
    results: {},
    skipped: {},
    ratios: [],
  };
  say(`ResNet-50 benchmark: batch ${o.batch}, ${o.steps} steps after ${o.warmup} warm-up, ${report.machine.cores} cores, ` +
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
  const record = (key: keyof BenchReport['results'], outcome: ChildOutcome): void => {
    if ('result' in outcome) {
      report.results[key] = outcome.result;
      say(`[${key}] median ${outcome.result.medianMs.toFixed(1)} ms, peak RSS ${outcome.result.peakRssMiB.toFixed(0)} MiB`);
    } else if ('refused' in outcome) {
      report.skipped[key] = outcome.refused;
    } else {
      report.skipped[key] = `failed: ${outcome.failed}`;
      say(`[${key}] failed: ${outcome.failed}`);
      failed = true;
    }
  };
  const skip = (key: keyof BenchReport['results'], why: string): void => {
    report.skipped[key] = why;
    say(`[${key}] skipped: ${why}`);
  };

  if (wanted('ours')) {
    const ours = fileURLToPath(new URL('./ours.js', import.meta.url));
    const extra = o.allowCpu ? ['--allow-cpu'] : [];
    for (const mode of ['train', 'infer'] as const) {
      say(`[ours.${mode}] starting`);
      const env = o.spin ? { ...process.env, OMP_WAIT_POLICY: undefined, GOMP_SPINCOUNT: GOMP_DEFAULT_SPINCOUNT } : process.env;
      const outcome = await runChild('ours', process.execPath, [ours, '--mode', mode, ...childArgs, ...extra], env);
      record(`ours.${mode}`, outcome);
      if ('refused' in outcome) {
        // Only the plain 'cpu' backend is refused, and it would be refused for the other mode as well.
        for (const m of ['train', 'infer'] as const) report.skipped[`ours.${m}`] = "refused: plain 'cpu' backend (--allow-cpu)";
        break;
      }
    }
  }
  if (wanted('torch')) {
    for (const mode of ['train', 'infer'] as const) {
      if (!hasTorch) {
        skip(`torch.${mode}`, `${PYTHON} cannot import torch (scripts/bench-setup.sh installs python3-torch)`);
        continue;
      }
      say(`[torch.${mode}] starting`);
      record(`torch.${mode}`, await runChild('torch', PYTHON, [TORCH_SCRIPT, mode, ...childArgs]));
    }
  }
  if (wanted('ort')) {
    if (!hasOrt) skip('ort.infer', 'onnxruntime-node is not installed (npm install)');
    else if (!hasTorch) skip('ort.infer', `the ONNX export needs PyTorch, and ${PYTHON} cannot import torch`);
    else {
      try {
        const file = await onnxModel();
        say('[ort.infer] starting');
        const ort = fileURLToPath(new URL('./ort.js', import.meta.url));
        record('ort.infer', await runChild('ort', process.execPath, [ort, '--mode', 'infer', '--onnx', file, ...childArgs]));
      } catch (err) {
        record('ort.infer', { failed: (err as Error).message });
      }
    }
  }

  report.machine.loadAvgEnd = loadavg();
  report.ratios = ratios(report.results, report.config.floorMs);
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
