/**
 * Builders of small CIFAR binary files for the tests, written in the layout of the CIFAR page: per record the label
 * byte(s), then the 1024 red values of the 32x32 image row by row, the 1024 green, the 1024 blue.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Pixels of one colour plane. */
export const PLANE = 1024;

/**
 * The value that image number `g` holds in channel `c` (0 red, 1 green, 2 blue) at position `p = y * 32 + x`: red
 * `(p + 11 g) mod 256`, green `255 - red`, blue `(3 p + g) mod 251`.
 */
export function cifarPixel(g: number, c: number, p: number): number {
  const red = (p + 11 * g) % 256;
  return c === 0 ? red : c === 1 ? 255 - red : (3 * p + g) % 251;
}

/**
 * The bytes of CIFAR records: one record per entry of `labels` (`[label]` for CIFAR-10, `[coarse, fine]` for
 * CIFAR-100), their images numbered `first`, `first + 1`, ... (see {@link cifarPixel}), planes one after another.
 */
export function cifarRecords(labels: readonly (readonly number[])[], first = 0): Buffer {
  const labelBytes = labels[0]?.length ?? 1;
  const size = labelBytes + 3 * PLANE;
  const buf = Buffer.alloc(labels.length * size);
  labels.forEach((l, i) => {
    l.forEach((v, k) => (buf[i * size + k] = v));
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < PLANE; p++) buf[i * size + labelBytes + c * PLANE + p] = cifarPixel(first + i, c, p);
    }
  });
  return buf;
}

/** Layout of a small CIFAR-10 folder. */
export interface Cifar10Spec {
  /** Labels of each training batch, `data_batch_1.bin` first; images numbered 0, 1, ... across the batches. */
  batches: number[][];
  /** Labels of `test_batch.bin`; its images are numbered from 1000. */
  test: number[];
  /** Lines of `batches.meta.txt` (null: no such file). */
  names: string[] | null;
}

/** First image number of a test file (so that no test image equals a training one). */
export const TEST_FIRST = 1000;

/** Writes a CIFAR-10 binary folder at `dir` (made if need be). */
export async function writeCifar10(dir: string, spec: Cifar10Spec): Promise<void> {
  await mkdir(dir, { recursive: true });
  let first = 0;
  for (const [b, labels] of spec.batches.entries()) {
    await writeFile(join(dir, `data_batch_${b + 1}.bin`), cifarRecords(labels.map((l) => [l]), first));
    first += labels.length;
  }
  await writeFile(join(dir, 'test_batch.bin'), cifarRecords(spec.test.map((l) => [l]), TEST_FIRST));
  if (spec.names) await writeFile(join(dir, 'batches.meta.txt'), spec.names.join('\n'));
}

/** Layout of a small CIFAR-100 folder: `[coarse, fine]` labels of each file; train images from 0, test from 1000. */
export interface Cifar100Spec {
  train: [number, number][];
  test: [number, number][];
  /** Lines of `fine_label_names.txt` (null: no such file). */
  names: string[] | null;
}

/** Writes a CIFAR-100 binary folder at `dir` (made if need be), with a `coarse_label_names.txt` of 20 names. */
export async function writeCifar100(dir: string, spec: Cifar100Spec): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'train.bin'), cifarRecords(spec.train, 0));
  await writeFile(join(dir, 'test.bin'), cifarRecords(spec.test, TEST_FIRST));
  if (spec.names) await writeFile(join(dir, 'fine_label_names.txt'), spec.names.join('\n'));
  await writeFile(join(dir, 'coarse_label_names.txt'), `${Array.from({ length: 20 }, (_, k) => `coarse${k}`).join('\n')}\n\n`);
}
