/**
 * What BatchNorm folding buys at inference: ResNet-50 `model.predict` time before and after `foldBatchNorm`, on the
 * fastest backend. The two models run alternately (A, B, A, B, …) on the same fixed batch, so that a noisy, shared
 * machine slows both alike; the report gives each model's median and the median of the per-round ratios.
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

/** Milliseconds of one `predict` of `x`, including reading the result back. */
async function timePredict(model: tf.LayersModel, x: tf.Tensor): Promise<number> {
  const t0 = performance.now();
  const y = model.predict(x) as tf.Tensor;
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
  for (let i = 0; i < o.warmup; i++) {
    await timePredict(model, x);
    await timePredict(folded, x);
  }
  const plain: number[] = [];
  const fold: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < o.rounds; r++) {
    // Alternate which goes first, so neither always runs right after the other.
    let pa: number;
    let fb: number;
    if (r % 2 === 0) {
      pa = await timePredict(model, x);
      fb = await timePredict(folded, x);
    } else {
      fb = await timePredict(folded, x);
      pa = await timePredict(model, x);
    }
    plain.push(pa);
    fold.push(fb);
    ratios.push(fb / pa);
    console.log(`round ${r + 1}/${o.rounds}: unfolded ${pa.toFixed(1)} ms, folded ${fb.toFixed(1)} ms, ratio ${(fb / pa).toFixed(3)}`);
  }
  console.log(
    `median: unfolded ${median(plain).toFixed(1)} ms, folded ${median(fold).toFixed(1)} ms; ` +
      `median folded/unfolded ratio ${median(ratios).toFixed(3)} (speed-up ${(1 / median(ratios)).toFixed(2)}x)`,
  );
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
