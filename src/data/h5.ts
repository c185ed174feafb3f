/**
 * SIGNS-style HDF5 files: `<prefix>_set_x` (uint8 images, `[n, h, w, c]` or `[n, h, w]`), `<prefix>_set_y` (integer
 * labels) and optionally `list_classes` (class names), read with h5wasm. The whole file is small: its uint8 pixels
 * stay in memory and are converted per batch.
 */
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import h5wasm, { type Dataset as H5Dataset, type File as H5File } from 'h5wasm/node';
import { DataError, messageOf } from './errors.js';
import { checkLabels, MemorySource } from './dataset.js';
import type { DataPart } from './types.js';

/** The 8 bytes that start an HDF5 superblock. */
export const HDF5_SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Options of `openH5`. */
export interface H5Options {
  /** Delivered image shape; default the stored one. */
  inputShape?: [number, number, number];
  /** Which `<prefix>_set_*` pair to read when the file has several (default 'train'). */
  split?: DataPart;
  /**
   * The part of a multi-part source that this file is (e.g. the `*test*` file of a folder of several .h5 files),
   * reported as the source's `part`. Default: the pair read, where `split` chose it among several; else none.
   */
  part?: DataPart;
}

/** Reads a little-endian unsigned integer of 1 to 8 bytes (as a Number: exact below 2^53). */
function readUint(buf: Buffer, offset: number, size: number): number {
  let v = 0;
  for (let k = size - 1; k >= 0; k--) v = v * 256 + buf[offset + k];
  return v;
}

/**
 * Checks the HDF5 signature and that the file is as long as its superblock says, so that h5wasm (whose C library
 * prints long diagnostics and may abort on damaged files) only ever sees plausible files.
 */
export async function checkHdf5Header(path: string): Promise<void> {
  const size = (await stat(path)).size;
  const fh = await open(path, 'r');
  try {
    // The superblock is at 0, 512, 1024, 2048, ... (a user block may precede it).
    for (let at = 0; at + 8 <= size; at = at === 0 ? 512 : at * 2) {
      const head = Buffer.alloc(64);
      const { bytesRead } = await fh.read(head, 0, 64, at);
      if (!head.subarray(0, 8).equals(HDF5_SIGNATURE)) continue;
      const version = head[8];
      let offsetSize: number;
      let baseAt: number;
      let eofAt: number;
      if (version === 0 || version === 1) {
        offsetSize = head[13];
        baseAt = version === 0 ? 24 : 28;
        eofAt = baseAt + 2 * offsetSize;
      } else if (version === 2 || version === 3) {
        offsetSize = head[9];
        baseAt = 12;
        eofAt = baseAt + 2 * offsetSize;
      } else {
        throw new DataError(path, `unsupported HDF5 superblock version ${version}`);
      }
      if (![2, 4, 8].includes(offsetSize) || eofAt + offsetSize > bytesRead) {
        throw new DataError(path, `corrupt HDF5 superblock (file of ${size} bytes)`);
      }
      const end = readUint(head, baseAt, offsetSize) + readUint(head, eofAt, offsetSize);
      if (end > size) throw new DataError(path, `truncated HDF5 file: ${size} bytes, its header says ${end}`);
      return;
    }
    throw new DataError(path, `not an HDF5 file (no HDF5 signature in its ${size} bytes)`);
  } finally {
    await fh.close();
  }
}

/** True when the dataset holds unsigned 8-bit integers. */
function isUint8(d: H5Dataset): boolean {
  const m = d.metadata;
  return m.type === 0 && m.size === 1 && !m.signed;
}

/** A readable name of a dataset's element type, e.g. uint8, int64, float32. */
function typeName(d: H5Dataset): string {
  const m = d.metadata;
  if (m.type === 0) return `${m.signed ? 'int' : 'uint'}${8 * m.size}`;
  if (m.type === 1) return `float${8 * m.size}`;
  if (m.type === 3) return 'string';
  return `HDF5 type ${String(d.dtype)}`;
}

/** A dataset's values as plain numbers (BigInt64 labels included). */
function numbers(value: unknown): number[] | undefined {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    return Array.from(value as unknown as ArrayLike<number | bigint>, Number);
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'number' || typeof v === 'bigint')) {
    return value.map(Number);
  }
  if (typeof value === 'number' || typeof value === 'bigint') return [Number(value)];
  return undefined;
}

/** A class-name list as strings (numbers, bigints, strings or byte strings). */
function names(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.map((v) => (v instanceof Uint8Array ? Buffer.from(v).toString() : String(v)));
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number | bigint>, (v) => String(v));
  return [String(value)];
}

/** Lists the `<prefix>_set_x` / `<prefix>_set_y` pairs among the root's keys. */
function pairsIn(keys: string[]): string[] {
  return keys
    .map((k) => /^(.+)_set_x$/.exec(k)?.[1])
    .filter((p): p is string => p !== undefined && keys.includes(`${p}_set_y`))
    .sort();
}

/** Opens a SIGNS-style HDF5 file as an in-memory source. Throws `DataError` for anything wrong with the file. */
export async function openH5(path: string, opts: H5Options = {}): Promise<MemorySource> {
  await checkHdf5Header(path);
  await h5wasm.ready;
  let file: H5File;
  try {
    file = new h5wasm.File(resolve(path), 'r');
  } catch (err) {
    throw new DataError(path, `cannot open as HDF5: ${messageOf(err)}`);
  }
  try {
    return readSource(path, file, opts);
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(path, `cannot read HDF5 contents: ${messageOf(err)}`);
  } finally {
    try {
      file.close();
    } catch {
      // closing a damaged file may fail too; nothing more to release
    }
  }
}

function readSource(path: string, file: H5File, opts: H5Options): MemorySource {
  const keys = file.keys();
  const pairs = pairsIn(keys);
  if (pairs.length === 0) {
    throw new DataError(
      path,
      `no <name>_set_x and <name>_set_y datasets (e.g. train_set_x, train_set_y); found: ${keys.join(', ') || 'nothing'}`,
    );
  }
  let prefix = pairs[0];
  let part = opts.part;
  if (pairs.length > 1) {
    const want = opts.split ?? 'train';
    if (!pairs.includes(want)) {
      throw new DataError(path, `no ${want}_set_x/${want}_set_y pair; found pairs: ${pairs.join(', ')}`);
    }
    prefix = want;
    part ??= want;
  }
  const xName = `${prefix}_set_x`;
  const yName = `${prefix}_set_y`;
  const x = file.get(xName);
  const y = file.get(yName);
  if (!(x instanceof h5wasm.Dataset)) throw new DataError(path, `${xName} is not a dataset`);
  if (!(y instanceof h5wasm.Dataset)) throw new DataError(path, `${yName} is not a dataset`);

  const xShape = x.shape ?? [];
  if (!(xShape.length === 4 && (xShape[3] === 1 || xShape[3] === 3)) && xShape.length !== 3) {
    throw new DataError(path, `${xName} has shape [${xShape.join(', ')}]; expected [n, h, w, 3], [n, h, w, 1] or [n, h, w]`);
  }
  if (!isUint8(x)) throw new DataError(path, `${xName} holds ${typeName(x)} values; expected uint8 pixels`);
  const count = xShape[0];
  const stored: [number, number, number] = [xShape[1], xShape[2], xShape.length === 4 ? xShape[3] : 1];

  const yShape = y.shape ?? [];
  const yCount = yShape.reduce((a, b) => a * b, 1);
  if (yShape.length === 0 || yShape.filter((d) => d !== 1).length > 1) {
    throw new DataError(path, `${yName} has shape [${yShape.join(', ')}]; expected one label per image`);
  }
  if (yCount !== count) {
    throw new DataError(path, `${xName} has ${count} images but ${yName} has ${yCount} labels`);
  }
  const rawLabels = numbers(y.value);
  if (!rawLabels) throw new DataError(path, `${yName} holds ${typeName(y)} values; expected integer labels`);

  let classes: string[];
  const listed = keys.includes('list_classes') ? file.get('list_classes') : null;
  if (listed instanceof h5wasm.Dataset) {
    classes = names(listed.value);
  } else {
    const max = rawLabels.reduce((a, b) => Math.max(a, b), -1);
    classes = Array.from({ length: Math.max(max + 1, 0) }, (_, i) => String(i));
  }
  if (classes.length < 2) throw new DataError(path, `only ${classes.length} class; need at least 2`);
  const labels = checkLabels(path, rawLabels, classes.length, (i) => `${yName}[${i}]`);

  const pixels = x.value;
  if (!(pixels instanceof Uint8Array) || pixels.length !== count * stored[0] * stored[1] * stored[2]) {
    throw new DataError(path, `${xName}: could not read its ${count} images`);
  }
  return new MemorySource(path, classes, opts.inputShape ?? stored, labels, pixels, stored, part);
}
