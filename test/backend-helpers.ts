/**
 * Helpers for the onednn backend tests: seeded random data, running one computation on both the onednn and the
 * cpu backend, a relative error, and counting calls into the native addon.
 *
 * Relative error (used with a bound of 1e-4 throughout): max_i |native_i - cpu_i| / max(1, max_i |cpu_i|).
 */
import assert from 'node:assert/strict';

import * as tf from '@tensorflow/tfjs';

import { BackendOnednn, initBackend, nativeBackendAvailable, nativeBackendUnavailableReason } from '../src/backend/index.js';
import type { OnednnAddon } from '../src/backend/native.js';

/** Per-kernel tolerance on `relErr`. */
export const TOLERANCE = 1e-4;

/** Skip reason for native tests when the addon is not built (one separate test fails in that case). */
export const SKIP_NATIVE: string | false = nativeBackendAvailable()
  ? false
  : `onednn addon not available: ${nativeBackendUnavailableReason()}`;

/** Deterministic uniform values in [-scale, scale) (mulberry32). */
export function randomValues(size: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    const u = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    out[i] = (2 * u - 1) * scale;
  }
  return out;
}

/** max|a - b| / max(1, max|b|); b is the reference. Throws if the lengths differ. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let diff = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    diff = Number.isNaN(d) ? Infinity : Math.max(diff, d);
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

/** Outputs of one computation on one backend: shapes and values. */
export interface Outputs {
  shapes: number[][];
  values: Float32Array[];
}

async function runOn(backend: 'onednn' | 'cpu', fn: () => tf.Tensor | tf.Tensor[]): Promise<Outputs> {
  await initBackend(backend);
  const result = tf.tidy(fn);
  const list = Array.isArray(result) ? result : [result];
  const out: Outputs = { shapes: list.map((t) => t.shape), values: list.map((t) => Float32Array.from(t.dataSync())) };
  tf.dispose(list);
  return out;
}

/** Runs `fn` (which builds its own input tensors) on the onednn and on the cpu backend. */
export async function onBoth(fn: () => tf.Tensor | tf.Tensor[]): Promise<{ native: Outputs; cpu: Outputs }> {
  const native = await runOn('onednn', fn);
  const cpu = await runOn('cpu', fn);
  return { native, cpu };
}

/**
 * Runs `fn` on the onednn backend while counting the calls into each addon function.
 * Returns the counts (the backend's addon is restored afterwards).
 */
export async function countNativeCalls(fn: () => void | Promise<void>): Promise<Record<string, number>> {
  await initBackend('onednn');
  const backend = tf.backend() as BackendOnednn;
  const original = backend.native;
  const counts: Record<string, number> = {};
  const counting: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(original)) {
    counting[name] = (...args: unknown[]) => {
      counts[name] = (counts[name] ?? 0) + 1;
      return (f as (...a: unknown[]) => unknown)(...args);
    };
  }
  (backend as { native: OnednnAddon }).native = counting as unknown as OnednnAddon;
  try {
    await fn();
  } finally {
    (backend as { native: OnednnAddon }).native = original;
  }
  return counts;
}

/** A float32 tensor of seeded uniform values in [-scale, scale). */
export const rand = (shape: number[], seed: number, scale = 1): tf.Tensor =>
  tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed, scale), shape);

/** Asserts that the native outputs have the cpu outputs' shapes and are within TOLERANCE of their values. */
export function assertClose(native: Outputs, cpu: Outputs, what: string): void {
  assert.deepEqual(native.shapes, cpu.shapes, `${what}: shapes`);
  native.values.forEach((v, i) => {
    const err = relErr(v, cpu.values[i]);
    assert.ok(err <= TOLERANCE, `${what}: output ${i} relative error ${err}`);
  });
}
