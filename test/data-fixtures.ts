/** Builders of small data files for the data tests, and reading a data set back. */
import * as tf from '@tensorflow/tfjs';
import type { Batch, Dataset } from '../src/data/index.js';

/** Builds an IDX file of unsigned bytes: 0, 0, 0x08, ndims, big-endian dims, data. */
export function idxBytes(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, k) => header.writeUInt32BE(d, 4 + 4 * k));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}

/**
 * The first batch of `ds` (default: all of it, in data set order) as arrays: pixels, their shape and the labels (the
 * one-hot rows' argmax). Its tensors are disposed.
 */
export async function firstBatch(ds: Dataset, batchSize = ds.size): Promise<{ xs: Float32Array; shape: number[]; labels: number[] }> {
  const gen = ds.batches({ batchSize });
  const b = (await gen.next()).value as Batch;
  const argmax = b.ys.argMax(1);
  const out = { xs: b.xs.dataSync() as Float32Array, shape: b.xs.shape, labels: Array.from(argmax.dataSync()) };
  tf.dispose([b.xs, b.ys, argmax]);
  await gen.return(undefined);
  return out;
}
