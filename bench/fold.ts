/**
 * What BatchNorm folding and compiled inference buy: ResNet-50 `model.predict` time of the model as built, of its
 * folded copy (`foldBatchNorm`) run through tfjs-layers' executor, and of the folded copy's own `predict` (on onednn
 * the compiled executor, src/model/compiled.ts), on the fastest backend. The three run in turn, in a rotating order,
 * on the same fixed batch, so that a noisy, shared machine slows all alike; the report gives each one's median and
 * the medians of the per-round ratios against the unfolded model.
 *
 * Usage: `node dist/bench/fold.js [--size 64] [--batch 32] [--rounds 8] [--warmup 2] [--allow-cpu]`.
 */
import { performance } from 'node:perf_hooks';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { ResNet50, foldBatchNorm, foldSummary } from '../src/model/index.js';
import { median } from './common.js';

/** Options of this benchmark. */
interface FoldBenchOptions {
  size: number;
  batch: number;
  rounds: number;
  warmup: number;
  allowCpu: boolean;
}

/** Parses `--size N --batch N --rounds N --warmup N [--allow-cpu]`; throws naming a bad argument. */
function parseArgs(argv: readonly string[]): FoldBenchOptions {
  const o: FoldBenchOptions = { size: 64, batch: 32, rounds: 8, warmup: 2, allowCpu: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--allow-cpu') {
      o.allowCpu = true;
      continue;
    }
    const keys: Record<string, 'size' | 'batch' | 'rounds' | 'warmup'> = { '--size': 'size', '--batch': 'batch', '--rounds': 'rounds', '--warmup': 'warmup' };
    const key = keys[arg];
    const n = Number(argv[++i]);
    if (key === undefined) throw new Error(`unknown argument '${arg}'`);
    if (!Number.isInteger(n) || n < (key === 'warmup' ? 0 : 1)) throw new Error(`${arg} needs a ${key === 'warmup' ? 'non-negative' : 'positive'} integer`);
    o[key] = n;
  }
  return o;
}

/**
 * Milliseconds of one `predict` of `x`, including reading the result back; with `viaLayers`, through tfjs-layers'
 * own executor (`LayersModel.prototype.predict`) even where the model's class has its own.
 */
async function timePredict(model: tf.LayersModel, x: tf.Tensor, viaLayers = false): Promise<number> {
  const t0 = performance.now();
  const y = (viaLayers ? tf.LayersModel.prototype.predict.call(model, x) : model.predict(x)) as tf.Tensor;
  await y.data();
  const ms = performance.now() - t0;
  y.dispose();
  return ms;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const backend = await initBackend('auto');
  if (backend === 'cpu' && !o.allowCpu) {
    process.stderr.write("fold bench: refusing to time ResNet-50 on tfjs's plain 'cpu' backend (minutes per batch); pass --allow-cpu\n");
    return 3;
  }
  const model = ResNet50({ inputShape: [o.size, o.size, 3] });
  const t0 = performance.now();
  const folded = foldBatchNorm(model);
  const foldMs = performance.now() - t0;
  const s = foldSummary(folded);
  console.log(
    `ResNet50 ${o.size}x${o.size}x3, batch ${o.batch}, backend ${backend}: folded ${s?.foldedBatchNorms.length} BatchNorms, ` +
      `fused ${s?.fusedActivations.length} ReLUs and ${s?.fusedResiduals.length} residual Add + ReLU in ${foldMs.toFixed(0)} ms`,
  );
  const x = tf.randomNormal([o.batch, o.size, o.size, 3], 0, 1, 'float32', 0);
  const variants: [string, () => Promise<number>][] = [
    ['unfolded', () => timePredict(model, x)],
    ['folded through tfjs-layers', () => timePredict(folded, x, true)],
    ['folded, its own predict', () => timePredict(folded, x)],
  ];
  for (let i = 0; i < o.warmup; i++) for (const [, run] of variants) await run();
  const times = variants.map(() => [] as number[]);
  const ratios = variants.map(() => [] as number[]);
  for (let r = 0; r < o.rounds; r++) {
    // Rotate the order, so that none always runs right after another.
    const got: number[] = new Array<number>(variants.length);
    for (let k = 0; k < variants.length; k++) {
      const v = (r + k) % variants.length;
      got[v] = await variants[v][1]();
    }
    got.forEach((ms, v) => {
      times[v].push(ms);
      ratios[v].push(ms / got[0]);
    });
    console.log(`round ${r + 1}/${o.rounds}: ${variants.map(([name], v) => `${name} ${got[v].toFixed(1)} ms`).join(', ')}`);
  }
  for (const [v, [name]] of variants.entries()) {
    console.log(`median ${name}: ${median(times[v]).toFixed(1)} ms` +
      (v === 0 ? '' : `, median ratio to unfolded ${median(ratios[v]).toFixed(3)} (speed-up ${(1 / median(ratios[v])).toFixed(2)}x)`));
  }
  tf.dispose([x]);
  folded.dispose();
  model.dispose();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fold bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
