/**
 * Shared pieces of the ResNet-50 benchmark: timing statistics, peak memory, the options of the measuring child
 * processes, and the line on which a child hands its result to the parent.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

/** Prefix of the one stdout line on which a measuring child (Node or Python) prints its result as JSON. */
export const RESULT_PREFIX = 'BENCH_RESULT ';

/** Exit code of a child that refused to measure (for example ResNet-50 on the plain 'cpu' backend). */
export const EXIT_REFUSED = 3;

/** What a measuring child reports. */
export interface SideResult {
  /** Which implementation: 'ours', 'torch' or 'ort'. */
  side: string;
  /** What was measured: 'train' (one optimizer step) or 'infer' (one inference batch). */
  mode: string;
  /** Median milliseconds per step or batch. */
  medianMs: number;
  /** Every measured time, in milliseconds, in order. */
  timesMs: number[];
  /** Peak resident set size of the child process, in MiB. */
  peakRssMiB: number;
  /** Anything else the side wants to report (backend name, versions, threads, parameter count). */
  [key: string]: unknown;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of an empty list');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Peak resident set size of this process in MiB: `VmHWM` from /proc/self/status, or
 * `process.resourceUsage().maxRSS` (KiB) where /proc is not there.
 */
export function peakRssMiB(): number {
  try {
    const match = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (match) return Number(match[1]) / 1024;
  } catch {
    // no /proc: fall through
  }
  return process.resourceUsage().maxRSS / 1024;
}

/** Runs `fn` `count` times untimed (logging each time), to warm up caches, allocations and optimizer state. */
export async function warmUp(
  label: string,
  fn: () => Promise<void>,
  count: number,
  log: (message: string) => void,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await fn();
    log(`${label} warm-up ${i + 1}/${count}: ${(performance.now() - t0).toFixed(0)} ms`);
  }
}

/**
 * Runs `fn` `steps` (>= 1) times, timing and logging each; returns the median and all times in ms.
 * `fn` must not return before its work is done (await the data of its result).
 */
export async function measure(
  label: string,
  fn: () => Promise<void>,
  steps: number,
  log: (message: string) => void,
): Promise<{ medianMs: number; timesMs: number[] }> {
  const timesMs: number[] = [];
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    await fn();
    timesMs.push(performance.now() - t0);
    log(`${label} ${i + 1}/${steps}: ${timesMs[i].toFixed(0)} ms`);
  }
  return { medianMs: median(timesMs), timesMs };
}

/** Options shared by the measuring children (`bench/ours.ts`, `bench/ort.ts`). */
export interface ChildOptions {
  /** 'train' or 'infer'. */
  mode: 'train' | 'infer';
  /** Images per batch. */
  batch: number;
  /** Measured steps. */
  steps: number;
  /** Untimed steps before them. */
  warmup: number;
  /** Number of classes of the model. */
  classes: number;
  /** Height and width of the square input images. */
  size: number;
  /** Whether ResNet-50 may run on tfjs's plain 'cpu' backend (minutes per step). */
  allowCpu: boolean;
  /**
   * Our side's training step: 'compiled', what the library's train() runs (CompiledTrainer: the compiled step where
   * the model allows it), or 'layers', tfjs-layers' own model.trainOnBatch on the same backend.
   */
  trainStep: 'compiled' | 'layers';
  /** ONNX model file (ORT side only). */
  onnx?: string;
  /** ORT intra-op threads (ORT side only). */
  threads?: number;
}

/**
 * Parses a child's arguments: `--mode train|infer --batch N --steps N --warmup N --classes N --size N
 * [--allow-cpu] [--train-step compiled|layers] [--onnx PATH] [--threads N]`.
 *
 * @throws Error naming the bad argument
 */
export function parseChildArgs(argv: readonly string[]): ChildOptions {
  const o: ChildOptions = { mode: 'train', batch: 32, steps: 10, warmup: 3, classes: 6, size: 64, allowCpu: false, trainStep: 'compiled' };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case '--mode': {
        const v = value();
        if (v !== 'train' && v !== 'infer') throw new Error(`--mode must be train or infer, not '${v}'`);
        o.mode = v;
        break;
      }
      case '--batch': o.batch = positiveInt(arg, value()); break;
      case '--steps': o.steps = positiveInt(arg, value()); break;
      case '--warmup': o.warmup = nonNegativeInt(arg, value()); break;
      case '--classes': o.classes = positiveInt(arg, value()); break;
      case '--size': o.size = positiveInt(arg, value()); break;
      case '--threads': o.threads = positiveInt(arg, value()); break;
      case '--onnx': o.onnx = value(); break;
      case '--allow-cpu': o.allowCpu = true; break;
      case '--train-step': {
        const v = value();
        if (v !== 'compiled' && v !== 'layers') throw new Error(`--train-step must be compiled or layers, not '${v}'`);
        o.trainStep = v;
        break;
      }
      default: throw new Error(`unknown argument '${arg}'`);
    }
  }
  return o;
}

/** Parses a positive integer option value. @throws Error naming the option */
export function positiveInt(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`${option} must be a positive integer, not '${text}'`);
  }
  return n;
}

/** Parses a non-negative integer option value. @throws Error naming the option */
export function nonNegativeInt(option: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) {
    throw new Error(`${option} must be a non-negative integer, not '${text}'`);
  }
  return n;
}

/** Prints a child's result on stdout as the one line the parent looks for. */
export function emitResult(result: SideResult): void {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
}

/** Finds a child's result line in its stdout. @returns undefined when there is none */
export function parseResult(stdout: string): SideResult | undefined {
  const line = stdout.split('\n').reverse().find((l) => l.startsWith(RESULT_PREFIX));
  return line === undefined ? undefined : (JSON.parse(line.slice(RESULT_PREFIX.length)) as SideResult);
}
