/**
 * IDX files, the format of MNIST and Fashion-MNIST: `train-images-idx3-ubyte` / `train-labels-idx1-ubyte` (and
 * `t10k-*` for the test split), gzipped or not. Header: two zero bytes, a type byte (0x08: unsigned bytes), the
 * number of dimensions, then each dimension as a big-endian uint32; then the data.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { DataError, messageOf } from './errors.js';
import { checkLabels, MemorySource } from './dataset.js';
import type { DataPart } from './types.js';

const gunzipAsync = promisify(gunzip);

/** Fashion-MNIST's class names, by label. */
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot',
];

/**
 * Default delivered shape for IDX images: MNIST's 28x28 gray, resized to 40x40 with three channels, which every
 * architecture here takes (ResNet-50's smallest input is 37x37) and the demo trains on.
 */
export const IDX_DEFAULT_SHAPE: [number, number, number] = [40, 40, 3];

/** A parsed IDX file. */
export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

/** Data type codes of the IDX format, for messages. */
const IDX_TYPES: Record<number, string> = {
  0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'short', 0x0c: 'int', 0x0d: 'float', 0x0e: 'double',
};

/**
 * Parses an IDX file's bytes (gunzipping first if they are gzip data), checking the magic number, the number of
 * dimensions and that the data is exactly as long as the dimensions say.
 */
export async function parseIdx(path: string, bytes: Uint8Array, expectedDims: number): Promise<IdxArray> {
  let buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = await gunzipAsync(buf);
    } catch (err) {
      throw new DataError(path, `corrupt gzip data: ${messageOf(err)}`);
    }
  }
  if (buf.length < 4) throw new DataError(path, `too short for an IDX file (${buf.length} bytes)`);
  const magic = buf.readUInt32BE(0);
  if (buf[0] !== 0 || buf[1] !== 0 || !(buf[2] in IDX_TYPES)) {
    throw new DataError(path, `bad IDX magic number 0x${magic.toString(16).padStart(8, '0')}`);
  }
  if (buf[2] !== 0x08) {
    throw new DataError(path, `IDX data type is ${IDX_TYPES[buf[2]]}; only unsigned bytes (0x08) are supported`);
  }
  const ndims = buf[3];
  if (ndims !== expectedDims) {
    throw new DataError(path, `IDX file has ${ndims} dimensions; expected ${expectedDims} (${expectedDims === 3 ? 'images' : 'labels'})`);
  }
  const header = 4 + 4 * ndims;
  if (buf.length < header) throw new DataError(path, `truncated IDX header (${buf.length} bytes)`);
  const dims = Array.from({ length: ndims }, (_, k) => buf.readUInt32BE(4 + 4 * k));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = buf.length - header;
  if (actual !== expected) {
    throw new DataError(
      path,
      `size mismatch: the header says [${dims.join(', ')}] = ${expected} bytes of data, the file has ${actual}`,
    );
  }
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + header, expected) };
}

/** Reads and parses an IDX file. */
export async function readIdx(path: string, expectedDims: number): Promise<IdxArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new DataError(path, `cannot read: ${messageOf(err)}`);
  }
  return parseIdx(path, bytes, expectedDims);
}

/** File name prefixes of each split. */
const SPLIT_PREFIXES = { train: ['train'], test: ['t10k', 'test'] } as const;

/** Finds `name` or `name.gz` among a folder's entries. */
function findEither(entries: string[], names: string[]): string | undefined {
  for (const n of names) for (const candidate of [n, `${n}.gz`]) if (entries.includes(candidate)) return candidate;
  return undefined;
}

/**
 * The images and labels files of a split in a folder, or undefined when the folder holds no IDX images file
 * (of any split). Throws `DataError` when images are there but labels are not.
 */
export async function findIdxInFolder(
  dir: string,
  split: DataPart = 'train',
): Promise<{ images: string; labels: string } | undefined> {
  const entries = await readdir(dir);
  if (!entries.some((e) => /images[-.]idx3-ubyte(\.gz)?$/.test(e))) return undefined;
  const prefixes = SPLIT_PREFIXES[split];
  const images = findEither(entries, prefixes.flatMap((p) => [`${p}-images-idx3-ubyte`, `${p}-images.idx3-ubyte`]));
  if (!images) {
    throw new DataError(dir, `no ${split} images file (looked for ${prefixes[0]}-images-idx3-ubyte[.gz])`);
  }
  const labelsName = labelsNameFor(images);
  const labels = findEither(entries, [labelsName.replace(/\.gz$/, '')]);
  if (!labels) throw new DataError(join(dir, images), `no labels file beside it (looked for ${labelsName.replace(/\.gz$/, '')}[.gz])`);
  return { images: join(dir, images), labels: join(dir, labels) };
}

/** The labels file name that goes with an images file name (`images` -> `labels`, `idx3` -> `idx1`). */
function labelsNameFor(imagesName: string): string {
  return imagesName.replace(/images(?!.*images)/, 'labels').replace(/idx3/, 'idx1');
}

/** The labels file beside an images file. */
export async function findLabelsFor(imagesPath: string): Promise<string> {
  const dir = dirname(imagesPath);
  const wanted = labelsNameFor(basename(imagesPath)).replace(/\.gz$/, '');
  const found = findEither(await readdir(dir), [wanted]);
  if (!found || wanted === basename(imagesPath).replace(/\.gz$/, '')) {
    throw new DataError(imagesPath, `no labels file beside it (looked for ${wanted}[.gz])`);
  }
  return join(dir, found);
}

/**
 * Opens an IDX images file and its labels file as an in-memory source. Class names are Fashion-MNIST's when the
 * path mentions "fashion", otherwise the digits 0..9 (or more numbers when labels go higher). `part` is the part of
 * a multi-part source (a folder of `train-*` / `t10k-*` files) that the files are, if they were picked as one.
 */
export async function openIdx(
  imagesPath: string,
  labelsPath: string,
  inputShape: [number, number, number] = IDX_DEFAULT_SHAPE,
  part?: DataPart,
): Promise<MemorySource> {
  const [images, labels] = await Promise.all([readIdx(imagesPath, 3), readIdx(labelsPath, 1)]);
  const [count, rows, cols] = images.dims;
  if (labels.dims[0] !== count) {
    throw new DataError(labelsPath, `has ${labels.dims[0]} labels but ${basename(imagesPath)} has ${count} images`);
  }
  const fashion = /fashion/i.test(resolve(imagesPath));
  let classes: string[];
  if (fashion) {
    classes = FASHION_MNIST_CLASSES;
  } else {
    const max = labels.data.reduce((a, b) => Math.max(a, b), 9);
    classes = Array.from({ length: max + 1 }, (_, i) => String(i));
  }
  const checked = checkLabels(labelsPath, labels.data, classes.length, (i) => `index ${i}`);
  return new MemorySource(imagesPath, classes, inputShape, checked, images.data, [rows, cols, 1], part);
}
