/**
 * Per-kernel benchmark of the onednn backend's convolutions on the 20 distinct conv shapes of one ResNet-50
 * training step (64x64x3 input, batch 32, NHWC), the shapes of `shared/tools/onednn-conv-floor`. Each kernel is
 * called through tfjs (`engine().runKernel`), so the times include everything the backend adds to oneDNN:
 * argument checks, output allocation, filter reorders, tensor bookkeeping.
 *
 * For the forward and backward-data passes two filter regimes are timed:
 *   - "fresh": new filter data on every call, as in training (the filter is reordered each call);
 *   - "cached": the same filter tensor every call, as in inference (its reordered copy is reused).
 * Totals are weighted by how often each shape occurs in ResNet-50 and are comparable with the floor's
 * "NHWC activations, weights converted on every call" (training) and "... converted once and cached" rows.
 *
 * The "raw" columns call the addon directly with preallocated outputs and a cached filter: oneDNN's own time
 * (primitive execution only); the difference to "cached" is what the tfjs path adds.
 *
 * Usage: node dist/bench/kernels.js [--batch N] [--target-ms MS] [--only IDX]
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

import * as tf from '@tensorflow/tfjs';

import { BackendOnednn, initBackend, onednnInfo } from '../src/backend/index.js';

interface Shape {
  name: string;
  count: number;
  ic: number;
  ih: number;
  iw: number;
  oc: number;
  k: number;
  stride: number;
  pad: number;
  /** The first conv: its input gradient is never needed. */
  first: boolean;
}

// name, count, in channels, in height, in width, out channels, filter, stride, pad (as in the floor tool).
const SHAPES: Shape[] = [
  ['conv1 7x7s2 3->64 @70 (pre-padded)', 1, 3, 70, 70, 64, 7, 2, 0, true],
  ['s2 1x1 64->64', 1, 64, 15, 15, 64, 1, 1, 0, false],
  ['s2 3x3 64->64', 3, 64, 15, 15, 64, 3, 1, 1, false],
  ['s2 1x1 64->256 (+sc)', 4, 64, 15, 15, 256, 1, 1, 0, false],
  ['s2 1x1 256->64', 2, 256, 15, 15, 64, 1, 1, 0, false],
  ['s3 1x1s2 256->128 15->8', 1, 256, 15, 15, 128, 1, 2, 0, false],
  ['s3 sc 1x1s2 256->512 15->8', 1, 256, 15, 15, 512, 1, 2, 0, false],
  ['s3 3x3 128->128 @8', 4, 128, 8, 8, 128, 3, 1, 1, false],
  ['s3 1x1 128->512 @8', 4, 128, 8, 8, 512, 1, 1, 0, false],
  ['s3 1x1 512->128 @8', 3, 512, 8, 8, 128, 1, 1, 0, false],
  ['s4 1x1s2 512->256 8->4', 1, 512, 8, 8, 256, 1, 2, 0, false],
  ['s4 sc 1x1s2 512->1024 8->4', 1, 512, 8, 8, 1024, 1, 2, 0, false],
  ['s4 3x3 256->256 @4', 6, 256, 4, 4, 256, 3, 1, 1, false],
  ['s4 1x1 256->1024 @4', 6, 256, 4, 4, 1024, 1, 1, 0, false],
  ['s4 1x1 1024->256 @4', 5, 1024, 4, 4, 256, 1, 1, 0, false],
  ['s5 1x1s2 1024->512 4->2', 1, 1024, 4, 4, 512, 1, 2, 0, false],
  ['s5 sc 1x1s2 1024->2048 4->2', 1, 1024, 4, 4, 2048, 1, 2, 0, false],
  ['s5 3x3 512->512 @2', 3, 512, 2, 2, 512, 3, 1, 1, false],
  ['s5 1x1 512->2048 @2', 3, 512, 2, 2, 2048, 1, 1, 0, false],
  ['s5 1x1 2048->512 @2', 2, 2048, 2, 2, 512, 1, 1, 0, false],
].map(([name, count, ic, ih, iw, oc, k, stride, pad, first]) => ({
  name, count, ic, ih, iw, oc, k, stride, pad, first,
} as Shape));

function parseArgs(argv: string[]): { batch: number; targetMs: number; only: number | null } {
  const o = { batch: 32, targetMs: 200, only: null as number | null };
  for (let i = 0; i < argv.length; i++) {
    const v = Number(argv[i + 1]);
    if (argv[i] === '--batch' && v > 0) o.batch = v;
    else if (argv[i] === '--target-ms' && v > 0) o.targetMs = v;
    else if (argv[i] === '--only' && v >= 0) o.only = v;
    else throw new Error(`bad argument '${argv[i]}' (usage: [--batch N] [--target-ms MS] [--only IDX])`);
    i++;
  }
  return o;
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * CPU time (jiffies, 1/100 s) used since boot by every process but this one, from /proc; 0 where /proc is missing.
 * The machine is shared: a measurement during which others used the CPU is repeated (as the floor tool does).
 */
function otherBusyJiffies(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const busy = cpu[0] + cpu[1] + cpu[2] + cpu[5] + cpu[6] + cpu[7];
    const self = readFileSync('/proc/self/stat', 'utf8');
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ');
    return busy - Number(fields[11]) - Number(fields[12]); // utime, stime
  } catch {
    return 0;
  }
}

/** Measurements repeated because of other processes, reported at the end. */
let contendedRetries = 0;

/** Like timeOnce, repeated (up to 20 times) while other processes used more than a little CPU meanwhile. */
function time(run: () => tf.Tensor | void, targetMs: number, prepare: () => void = () => {}): number {
  let result = 0;
  for (let attempt = 0; attempt < 20; attempt++) {
    const j0 = otherBusyJiffies();
    const t0 = performance.now();
    result = timeOnce(run, targetMs, prepare);
    const allowed = 2 + (performance.now() - t0) / 250;
    if (otherBusyJiffies() - j0 <= allowed) return result;
    contendedRetries++;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300); // let the other process finish
  }
  console.error('warning: measurement still contended after 20 tries');
  return result;
}

/**
 * Median ms of `run` (which returns a tensor to dispose), after two warm-up calls; at least 5 and at most 51 timed
 * calls, about `targetMs` in all. `prepare` runs untimed before each call.
 */
function timeOnce(run: () => tf.Tensor | void, targetMs: number, prepare: () => void = () => {}): number {
  for (let i = 0; i < 2; i++) {
    prepare();
    run()?.dispose();
  }
  const times: number[] = [];
  let spent = 0;
  while (times.length < 5 || (spent < targetMs && times.length < 51)) {
    prepare();
    const t0 = performance.now();
    const y = run();
    const dt = performance.now() - t0;
    y?.dispose();
    times.push(dt);
    spent += dt;
  }
  return median(times);
}

function random(shape: number[]): tf.Tensor {
  return tf.randomUniform(shape, -1, 1, 'float32');
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const backend = await initBackend('onednn');
  const info = onednnInfo();
  console.log(`backend ${backend}, oneDNN ${info?.version} (${info?.isa}), ${info?.maxThreads} threads, batch ${o.batch}`);
  console.log('ms per call (median); fwd/bwd-data with fresh filter data each call | with a cached filter');
  const header = ['#', 'shape', 'n', 'fwd fresh', 'fwd cached', 'fwd raw', 'bwdD fresh', 'bwdD cached', 'bwdD raw',
    'bwdW', 'bwdW raw', 'GFLOP/s fwd raw'];
  console.log(header.join('\t'));
  const total = { fwdFresh: 0, fwdCached: 0, fwdRaw: 0, bdFresh: 0, bdCached: 0, bdRaw: 0, bw: 0, bwRaw: 0 };
  const native = (tf.backend() as BackendOnednn).native;
  SHAPES.forEach((s, idx) => {
    if (o.only !== null && o.only !== idx) return;
    const oh = Math.floor((s.ih + 2 * s.pad - s.k) / s.stride) + 1;
    const ow = Math.floor((s.iw + 2 * s.pad - s.k) / s.stride) + 1;
    const pad: [[number, number], [number, number], [number, number], [number, number]] =
      [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]];
    const x = random([o.batch, s.ih, s.iw, s.ic]);
    const filterShape: [number, number, number, number] = [s.k, s.k, s.ic, s.oc];
    let filter = random(filterShape);
    const dy = random([o.batch, oh, ow, s.oc]);
    // A new filter tensor (new data) before each timed call: the training regime.
    const freshFilter = () => {
      const old = filter;
      filter = tf.mul(old, 1.0001);
      old.dispose();
    };
    const convAttrs = { strides: s.stride, pad, dataFormat: 'NHWC', dilations: 1 };
    const fwd = () => tf.engine().runKernel('Conv2D', { x, filter }, convAttrs) as tf.Tensor;
    const bwdData = () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter },
      { ...convAttrs, inputShape: x.shape }) as tf.Tensor;
    const bwdWeights = () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
      { ...convAttrs, filterShape }) as tf.Tensor;

    // Raw addon calls: preallocated outputs, one filter token.
    const data = (t: tf.Tensor) => t.dataSync() as Float32Array;
    const geometry = Int32Array.from([o.batch, s.ih, s.iw, s.ic, oh, ow, s.oc, s.k, s.k, s.stride, s.stride, 1, 1,
      s.pad, s.pad, s.pad, s.pad]);
    const rawFilter = random(filterShape);
    const [xv, wv, dyv] = [data(x), data(rawFilter), data(dy)];
    const yOut = new Float32Array(dyv.length);
    const dxOut = new Float32Array(xv.length);
    const dwOut = new Float32Array(wv.length);
    const token = 1e9 + idx;
    const fwdRaw = time(() => native.conv2dForward(xv, wv, null, yOut, geometry, 0, 0, token), o.targetMs);
    const bdRaw = s.first ? 0 : time(() => native.conv2dBackwardData(dyv, wv, dxOut, geometry, token), o.targetMs);
    const bwRaw = time(() => { native.conv2dBackwardWeights(xv, dyv, dwOut, null, geometry); }, o.targetMs);
    native.releaseToken(token);
    rawFilter.dispose();

    const fwdFresh = time(fwd, o.targetMs, freshFilter);
    const fwdCached = time(fwd, o.targetMs);
    const bdFresh = s.first ? 0 : time(bwdData, o.targetMs, freshFilter);
    const bdCached = s.first ? 0 : time(bwdData, o.targetMs);
    const bw = time(bwdWeights, o.targetMs);
    const gflop = (2 * o.batch * oh * ow * s.oc * s.ic * s.k * s.k) / 1e9;
    total.fwdFresh += s.count * fwdFresh;
    total.fwdCached += s.count * fwdCached;
    total.fwdRaw += s.count * fwdRaw;
    total.bdRaw += s.count * bdRaw;
    total.bwRaw += s.count * bwRaw;
    total.bdFresh += s.count * bdFresh;
    total.bdCached += s.count * bdCached;
    total.bw += s.count * bw;
    const f = (v: number) => (v === 0 ? '-' : v.toFixed(3));
    console.log([idx, s.name, s.count, f(fwdFresh), f(fwdCached), f(fwdRaw), f(bdFresh), f(bdCached), f(bdRaw), f(bw),
      f(bwRaw), (gflop / (fwdRaw / 1e3)).toFixed(0)].join('\t'));
    tf.dispose([x, filter, dy]);
  });
  const train = total.fwdFresh + total.bdFresh + total.bw;
  console.log(`\ncount-weighted totals (ms): fwd fresh ${total.fwdFresh.toFixed(1)}, fwd cached ${total.fwdCached.toFixed(1)}, ` +
    `bwd-data fresh ${total.bdFresh.toFixed(1)}, bwd-data cached ${total.bdCached.toFixed(1)}, bwd-weights ${total.bw.toFixed(1)}`);
  console.log(`raw addon (cached filter, preallocated outputs): fwd ${total.fwdRaw.toFixed(1)}, bwd-data ${total.bdRaw.toFixed(1)}, ` +
    `bwd-weights ${total.bwRaw.toFixed(1)}; sum ${(total.fwdRaw + total.bdRaw + total.bwRaw).toFixed(1)}`);
  console.log(`measurements repeated because other processes used the CPU: ${contendedRetries}`);
  console.log(`conv time of one training step (fresh filters): ${train.toFixed(1)} ms; inference (cached): ${total.fwdCached.toFixed(1)} ms`);
}

await main();
