/**
 * Shared fixtures of the training tests: where the real SIGNS data is, tiny models, in-memory data sets, temporary
 * run folders, reporters that record instead of printing, a training run that frees its model at once, and the
 * readers and references that compare runs (weights, their largest difference, the cosine rate, each step's rate).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { BackendChoice } from '../src/backend/index.js';
import { MemorySource, SourceDataset, type Dataset } from '../src/data/index.js';
import { buildResNet } from '../src/model/index.js';
import { train, type EpochRecord, type ProgressReporter, type TrainOptions, type TrainResult } from '../src/train/index.js';

/** The repository root (tests run from `dist/test/`). */
export const REPO_ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

/** The real SIGNS files, beside the repository. */
export const SIGNS_TRAIN = resolve(REPO_ROOT, '..', 'shared', 'data', 'signs', 'train_signs.h5');
export const SIGNS_TEST = resolve(REPO_ROOT, '..', 'shared', 'data', 'signs', 'test_signs.h5');

/** The CLI entry point, compiled. */
export const CLI = join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

/** Backend of the tests: whatever `initBackend('auto')` gives, unless RESNET_TEST_BACKEND says otherwise. */
export const TEST_BACKEND = (process.env.RESNET_TEST_BACKEND ?? 'auto') as BackendChoice;

/** Smallest input the ResNets accept is 37x37; 40x40 keeps tests quick. */
export const TINY_INPUT: [number, number, number] = [40, 40, 3];

/** A ResNet-18 with every filter count divided by 32 (about 12k parameters). */
export function tinyResNet(inputShape: [number, number, number] = TINY_INPUT, classes = 6): tf.LayersModel {
  return buildResNet('resnet18', { inputShape, classes, widthDivisor: 32 });
}

/** A fresh temporary folder; removed by the returned function. */
export function tempDir(prefix = 'resnet-train-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/**
 * An in-memory data set of `n` images of `shape`, labels cycling through `classes` classes, pixel values a fixed
 * function of (image, position) so that it is the same on every run.
 */
export function memoryDataset(
  n: number,
  shape: [number, number, number],
  classes: number,
  name = 'memory',
  classNames: string[] = Array.from({ length: classes }, (_, k) => `class${k}`),
): Dataset {
  const [h, w, c] = shape;
  const size = h * w * c;
  const pixels = new Uint8Array(n * size);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    labels[i] = i % classes;
    for (let j = 0; j < size; j++) pixels[i * size + j] = (i * 37 + j * 11 + labels[i] * 53) % 256;
  }
  const source = new MemorySource(name, classNames, shape, labels, pixels, shape);
  return new SourceDataset(source, Int32Array.from({ length: n }, (_, i) => i));
}

/**
 * A reporter that keeps messages, epoch records, the step count, per step the running mean loss it was given
 * (`stepMeans`, all epochs in order), and the progress of evaluations after the epochs (`evaluations`:
 * `<what> <done>/<total>`).
 */
export function recordingReporter(): ProgressReporter & { messages: string[]; records: EpochRecord[]; steps: number; stepMeans: number[]; evaluations: string[] } {
  const r = {
    messages: [] as string[],
    records: [] as EpochRecord[],
    steps: 0,
    stepMeans: [] as number[],
    evaluations: [] as string[],
    evaluate(what: string, done: number, total: number) {
      r.evaluations.push(`${what} ${done}/${total}`);
    },
    message(line: string) {
      r.messages.push(line);
    },
    start() {},
    step(loss: number) {
      r.steps++;
      r.stepMeans.push(loss);
    },
    end(record: EpochRecord) {
      r.records.push(record);
    },
    stop() {},
  };
  return r;
}

/**
 * A recording reporter whose `end` throws `stopped after epoch <n>` when the first epoch ends: a run stopped (as by a
 * crash) right after that epoch's checkpoint, to be resumed.
 */
export function stoppingReporter(): ReturnType<typeof recordingReporter> {
  const r = recordingReporter();
  r.end = (record: EpochRecord) => {
    throw new Error(`stopped after epoch ${record.epoch}`);
  };
  return r;
}

/**
 * Trains with `options`, then disposes the trained model and its optimizer at once: for tests that read only the
 * run's state, files and messages. Returns the rest of the result.
 */
export async function trainReleased(options: TrainOptions): Promise<Omit<TrainResult, 'model' | 'optimizer'>> {
  const { model, optimizer, ...rest } = await train(options);
  optimizer.dispose();
  model.dispose();
  return rest;
}

/** The values of each of `model`'s weights, in `getWeights()` order. */
export async function weightsOf(model: tf.LayersModel): Promise<Float32Array[]> {
  return Promise.all(model.getWeights().map(async (w) => (await w.data()) as Float32Array));
}

/** The largest |a - b| over two lists of arrays, asserting that both have the same number of arrays and sizes. */
export function maxDifference(a: Float32Array[], b: Float32Array[]): number {
  assert.equal(a.length, b.length);
  let max = 0;
  a.forEach((w, i) => {
    assert.equal(w.length, b[i].length);
    w.forEach((v, j) => (max = Math.max(max, Math.abs(v - b[i][j]))));
  });
  return max;
}

/** Cosine decay worked out here, independently of `learningRateAt`: `lr` at step 0, 0 at step `total`. */
export function cosineRate(lr: number, step: number, total: number): number {
  return lr * 0.5 * (1 + Math.cos((Math.PI * step) / total));
}

/**
 * Runs `fn` while recording the learning rate of every step of one optimizer class: `proto` is its prototype (e.g.
 * `tf.AdamOptimizer.prototype`), whose `applyGradients` is wrapped for the call, and `rateOf` reads the rate off the
 * optimizer (typed as the fields it reads) as the step begins. Install it after the backend: the onednn backend
 * replaces AdamOptimizer's applyGradients when it registers, and this wraps whichever one is in use.
 */
export async function recordingStepRates<V, T>(
  proto: tf.Optimizer,
  rateOf: (optimizer: V) => number,
  fn: () => Promise<T>,
): Promise<{ result: T; rates: number[] }> {
  const target = proto as unknown as { applyGradients: (this: V, g: unknown) => void };
  const original = target.applyGradients;
  const rates: number[] = [];
  target.applyGradients = function (this: V, g: unknown) {
    rates.push(rateOf(this));
    original.call(this, g);
  };
  try {
    return { result: await fn(), rates };
  } finally {
    target.applyGradients = original;
  }
}
