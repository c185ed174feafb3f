/**
 * Per-kernel time profile of ResNet-50 training steps (`model.trainOnBatch`, Adam, categorical cross-entropy) on
 * one fixed random batch: which tfjs kernels take the time, on the chosen backend.
 *
 * Every kernel registered for the backend is wrapped with a timer for the measured steps only. Kernels run
 * synchronously on this backend, so a kernel's time is its wall time, including the JS around the native call
 * (argument checks, output allocation). Kernels that call other kernels directly (not through the registry) count
 * those inside their own time. "other" is the step's time outside any kernel: tfjs's engine, tape, layers. The CPU
 * time of all threads is printed too: on a shared machine it varies less than wall time.
 *
 * Usage: node dist/bench/profile-step.js [--mode train|infer|compiled] [--backend onednn|cpu] [--optimizer adam|sgd]
 *          [--batch 32] [--size 64] [--steps 3] [--warmup 1] [--width-divisor 1] [--top 25] [--clock wall|cpu]
 *
 * `--mode infer` profiles the folded model's (`foldBatchNorm`) inference through tfjs-layers' executor and the
 * registered kernels, which is what shows each kernel's share. `npm run bench` measures the folded model's own
 * `predict`, which on onednn runs the compiled executor (src/model/compiled.ts): the same native calls without the
 * tfjs work between them, so the difference between the two step times is that work.
 *
 * `--mode compiled` profiles the training step the library's train() runs on onednn (`CompiledTrainer`,
 * src/model/compiled_training.ts), which calls the addon directly: its rows are the addon's functions, and "other"
 * is the step's JavaScript (planning is done before; the optimizer's JavaScript, the loss, moving averages).
 *
 * `--clock cpu` times kernels by the process's CPU time instead of wall time: with OMP_NUM_THREADS=1 that is each
 * kernel's work, undisturbed by other processes on a busy machine.
 */
import { performance } from 'node:perf_hooks';

import * as tf from '@tensorflow/tfjs';
import type { KernelConfig, KernelFunc } from '@tensorflow/tfjs';

import { type BackendOnednn, initBackend } from '../src/backend/index.js';
import { CompiledTrainer, ResNet50, foldBatchNorm } from '../src/model/index.js';

interface Options {
  mode: 'train' | 'infer' | 'compiled';
  backend: 'onednn' | 'cpu';
  optimizer: 'adam' | 'sgd';
  batch: number;
  size: number;
  steps: number;
  warmup: number;
  widthDivisor: number;
  top: number;
  clock: 'wall' | 'cpu';
}

function parseArgs(argv: string[]): Options {
  const o: Options = { mode: 'train', backend: 'onednn', optimizer: 'adam', batch: 32, size: 64, steps: 3, warmup: 1, widthDivisor: 1, top: 25, clock: 'wall' };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const n = Number(value);
    switch (flag) {
      case '--backend':
        if (value !== 'onednn' && value !== 'cpu') throw new Error(`--backend must be onednn or cpu, got ${value}`);
        o.backend = value;
        break;
      case '--mode':
        if (value !== 'train' && value !== 'infer' && value !== 'compiled') throw new Error(`--mode must be train, infer or compiled, got ${value}`);
        o.mode = value;
        break;
      case '--clock':
        if (value !== 'wall' && value !== 'cpu') throw new Error(`--clock must be wall or cpu, got ${value}`);
        o.clock = value;
        break;
      case '--optimizer':
        if (value !== 'adam' && value !== 'sgd') throw new Error(`--optimizer must be adam or sgd, got ${value}`);
        o.optimizer = value;
        break;
      case '--batch': o.batch = n; break;
      case '--size': o.size = n; break;
      case '--steps': o.steps = n; break;
      case '--warmup': o.warmup = n; break;
      case '--width-divisor': o.widthDivisor = n; break;
      case '--top': o.top = n; break;
      default: throw new Error(`unknown option ${flag}`);
    }
    if (!['--mode', '--backend', '--optimizer', '--clock'].includes(flag) && !(Number.isInteger(n) && n >= 0)) throw new Error(`${flag} needs a whole number`);
  }
  return o;
}

/** Time and call count per kernel name, while `enabled`. */
interface KernelStats {
  ms: number;
  calls: number;
}

/** Timers by name, on while `enabled`: what the instrumenting functions below wrap calls with. */
class Timers {
  readonly stats = new Map<string, KernelStats>();
  enabled = false;

  constructor(private readonly now: () => number) {}

  /** `f()`, timed under `name` while enabled. */
  time<T>(name: string, f: () => T): T {
    const t0 = this.now();
    try {
      return f();
    } finally {
      const st = this.stats.get(name) ?? { ms: 0, calls: 0 };
      st.ms += this.now() - t0;
      st.calls++;
      this.stats.set(name, st);
    }
  }

  /** What main() reads: the stats, and a switch. */
  get profiler(): { stats: Map<string, KernelStats>; setEnabled(on: boolean): void } {
    return { stats: this.stats, setEnabled: (on) => (this.enabled = on) };
  }
}

/**
 * Wraps every function of the onednn backend's addon with a timer: the compiled training step calls the addon
 * directly, not kernels. Must run before anything plans native ops (they keep the addon they saw).
 */
function instrumentAddon(now: () => number): { stats: Map<string, KernelStats>; setEnabled(on: boolean): void } {
  const timers = new Timers(now);
  const backend = tf.backend() as BackendOnednn;
  const addon = backend.native;
  const wrapped: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(addon)) {
    const call = (args: unknown[]): unknown => (f as (...a: unknown[]) => unknown).apply(addon, args);
    wrapped[name] = (...args: unknown[]): unknown => (timers.enabled ? timers.time(name, () => call(args)) : call(args));
  }
  (backend as { native: unknown }).native = wrapped;
  return timers.profiler;
}

/** Wraps every kernel of `backendName` with a timer; nested kernel calls through the registry count once. */
function instrument(backendName: string, now: () => number): { stats: Map<string, KernelStats>; setEnabled(on: boolean): void } {
  const timers = new Timers(now);
  let depth = 0;
  for (const config of tf.getKernelsForBackend(backendName)) {
    const inner = config.kernelFunc;
    const wrapped: KernelFunc = (args) => {
      if (!timers.enabled || depth > 0) return inner(args);
      depth++;
      try {
        return timers.time(config.kernelName, () => inner(args));
      } finally {
        depth--;
      }
    };
    tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel({ ...config, kernelFunc: wrapped } as KernelConfig);
  }
  return timers.profiler;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const backend = await initBackend(o.backend);
  const model = ResNet50({ inputShape: [o.size, o.size, 3], classes: 6, widthDivisor: o.widthDivisor });
  const x = tf.randomNormal([o.batch, o.size, o.size, 3], 0, 1, 'float32', 0);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(Array.from({ length: o.batch }, (_, i) => i % 6), 'int32'), 6).toFloat());
  const optimizer = o.optimizer === 'adam' ? tf.train.adam(1e-3, 0.9, 0.999, 1e-7) : tf.train.sgd(1e-3);
  model.compile({ optimizer, loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const now = o.clock === 'cpu' ? cpuNow : () => performance.now();
  if (o.mode === 'compiled' && backend !== 'onednn') throw new Error('--mode compiled needs the onednn backend');
  const profiler = o.mode === 'compiled' ? instrumentAddon(now) : instrument(backend, now);
  const folded = o.mode === 'infer' ? foldBatchNorm(model) : null;
  const trainer = new CompiledTrainer(model);
  const step = async (): Promise<void> => {
    if (o.mode === 'compiled') {
      await trainer.trainOnBatch(x, y);
      return;
    }
    if (folded === null) {
      await model.trainOnBatch(x, y);
      return;
    }
    const p = tf.LayersModel.prototype.predict.call(folded, x, { batchSize: o.batch }) as tf.Tensor;
    await p.data();
    p.dispose();
  };

  for (let i = 0; i < o.warmup; i++) await step();
  const tensorsBefore = tf.memory().numTensors;
  const stepMs: number[] = [];
  const cpu0 = process.cpuUsage();
  profiler.setEnabled(true);
  for (let i = 0; i < o.steps; i++) {
    const t0 = now();
    await step();
    stepMs.push(now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  profiler.setEnabled(false);
  const tensorsAfter = tf.memory().numTensors;

  const total = stepMs.reduce((a, b) => a + b, 0);
  const rows = [...profiler.stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const inKernels = rows.reduce((a, [, s]) => a + s.ms, 0);
  const per = (ms: number) => (ms / o.steps).toFixed(1).padStart(8);
  const what = o.mode === 'infer' ? 'folded, predict through tfjs-layers' : o.mode === 'compiled' ? `${o.optimizer}, compiled step (addon functions)` : o.optimizer;
  console.log(`ResNet-50 ${o.size}x${o.size}x3 / ${o.widthDivisor}, batch ${o.batch}, backend ${backend}, ${what}, ` +
    `${o.steps} steps (${o.clock} clock): ${stepMs.map((t) => t.toFixed(0)).join(', ')} ms (mean ${(total / o.steps).toFixed(0)} ms)`);
  console.log(`CPU time (all threads) ${((cpu.user + cpu.system) / 1000 / o.steps).toFixed(0)} ms per step; ` +
    `tensors before ${tensorsBefore}, after ${tensorsAfter}`);
  console.log(`${(o.mode === 'compiled' ? 'addon function' : 'kernel').padEnd(28)}${'ms/step'.padStart(8)}${'calls'.padStart(8)}${'share'.padStart(8)}`);
  for (const [name, s] of rows.slice(0, o.top)) {
    console.log(`${name.padEnd(28)}${per(s.ms)}${String(s.calls / o.steps).padStart(8)}${((100 * s.ms) / total).toFixed(1).padStart(7)}%`);
  }
  const rest = rows.slice(o.top).reduce((a, [, s]) => a + s.ms, 0);
  console.log(`${`(${Math.max(0, rows.length - o.top)} more kernels)`.padEnd(28)}${per(rest)}${''.padStart(8)}${((100 * rest) / total).toFixed(1).padStart(7)}%`);
  console.log(`${(o.mode === 'compiled' ? 'other (JavaScript)' : 'other (outside kernels)').padEnd(28)}${per(total - inKernels)}${''.padStart(8)}${((100 * (total - inKernels)) / total).toFixed(1).padStart(7)}%`);
}

main().catch((err: unknown) => {
  console.error(`profile-step: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
