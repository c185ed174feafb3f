/**
 * CIFAR-10 and CIFAR-100 in their binary distribution format (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * - CIFAR-10 (`cifar-10-batches-bin/`): `data_batch_1.bin` to `data_batch_5.bin` (the training part, read in that
 *   order) and `test_batch.bin` (the test part), each a run of 3073-byte records: one label byte (0-9), then the
 *   3072 pixel bytes of a 32x32 RGB image stored planar: the 1024 red values row by row, then the 1024 green, then
 *   the 1024 blue. `batches.meta.txt` holds the 10 class names, one a line.
 * - CIFAR-100 (`cifar-100-binary/`): `train.bin` and `test.bin`, 3074-byte records: a coarse label byte (0-19), a fine
 *   label byte (0-99), then 3072 pixel bytes as above. The fine labels are the classes (100 of them, named by
 *   `fine_label_names.txt`); the coarse ones are checked for range and otherwise not used.
 *
 * Each file is read whole in one call and its pixels are moved, record by record, into the interleaved NHWC layout
 * (`r g b r g b ...`) that `MemorySource` keeps in memory.
 */
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DataError, listNames, messageOf } from './errors.js';
import { MemorySource } from './dataset.js';
import type { DataPart } from './types.js';

/** CIFAR-10's class names, by label, as its `batches.meta.txt` lists them. */
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck',
];

/**
 * Default delivered shape for CIFAR images: the stored 32x32 RGB, upscaled to 40x40. 32x32 is too small for the
 * ResNets here with their top (stage 5 must leave at least 2x2 for the 2x2 average pool: 37x37 at the least), so the
 * images must grow; 40 is the smallest multiple of 8 above 37, costs (40/32)^2 = 1.56 times the compute of the native
 * size (64x64, the SIGNS size, would cost 4 times and ends stage 5 at the same 2x2), and stretches each pixel only
 * 1.25 times, so the upscaling adds little blur. It is the IDX default as well. `inputShape` overrides it.
 */
export const CIFAR_DEFAULT_SHAPE: [number, number, number] = [40, 40, 3];

/** Height, width and channels of a stored CIFAR image. */
const STORED_SHAPE: [number, number, number] = [32, 32, 3];
/** Pixels of one colour plane (32 x 32). */
const PLANE = 32 * 32;
/** Pixel bytes of one record (three planes). */
const PIXEL_BYTES = 3 * PLANE;

/** The two binary layouts, and the file names of their distributions. */
interface CifarLayout {
  /** For messages and descriptions. */
  readonly title: 'CIFAR-10' | 'CIFAR-100';
  /** Label bytes before the pixels of each record. */
  readonly labelBytes: 1 | 2;
  /** Number of classes (of the label used). */
  readonly classCount: number;
  /** The file beside the data that names the classes, one a line. */
  readonly namesFile: string;
  /** The standard class names, used when `namesFile` is not there; undefined where that is an error. */
  readonly standardNames?: readonly string[];
}

/** CIFAR-10's layout. */
const CIFAR10: CifarLayout = {
  title: 'CIFAR-10', labelBytes: 1, classCount: 10, namesFile: 'batches.meta.txt', standardNames: CIFAR10_CLASSES,
};

/**
 * CIFAR-100's layout. Its 100 fine-label names come only from `fine_label_names.txt` (there is no list of them here
 * to fall back on), so that file must be there.
 */
const CIFAR100: CifarLayout = {
  title: 'CIFAR-100', labelBytes: 2, classCount: 100, namesFile: 'fine_label_names.txt',
};

/** Number of coarse classes of CIFAR-100 (the first label byte). */
const CIFAR100_COARSE = 20;

/** Bytes of one record of a layout. */
function recordBytes(layout: CifarLayout): number {
  return layout.labelBytes + PIXEL_BYTES;
}

/** CIFAR-10 training batch file names: `data_batch_<n>.bin`, n from 1. */
const CIFAR10_BATCH = /^data_batch_([1-9]\d*)\.bin$/;
/** CIFAR-10's test file. */
const CIFAR10_TEST = 'test_batch.bin';
/** Number of training batches of the CIFAR-10 distribution. */
const CIFAR10_BATCHES = 5;
/** CIFAR-100's files of each part. */
const CIFAR100_FILES: Record<DataPart, string> = { train: 'train.bin', test: 'test.bin' };

/** A CIFAR layout found in a folder, with the files of each part (missing ones included, for the message). */
export interface CifarFolder {
  /** 'CIFAR-10' or 'CIFAR-100'. */
  readonly kind: 'CIFAR-10' | 'CIFAR-100';
  /** The training part's file names, in reading order (CIFAR-10: every `data_batch_<n>.bin`, n = 1, 2, ...). */
  readonly train: readonly string[];
  /** The test part's file name. */
  readonly test: string;
}

/**
 * The CIFAR distribution a folder holds, judged by its file names (`data_batch_<n>.bin` or `test_batch.bin`:
 * CIFAR-10; `train.bin` or `test.bin`: CIFAR-100), or undefined where it holds neither. The CIFAR-10 training part is
 * `data_batch_1.bin` to `data_batch_5.bin`, or to the highest-numbered batch there where one above 5 is there too.
 * Throws `DataError` for a folder that holds files of both.
 */
export function findCifarInFolder(dir: string, entries: readonly string[]): CifarFolder | undefined {
  const batches = entries.map((e) => CIFAR10_BATCH.exec(e)).filter((m) => m !== null).map((m) => Number(m[1]));
  const is10 = batches.length > 0 || entries.includes(CIFAR10_TEST);
  const is100 = entries.includes(CIFAR100_FILES.train) || entries.includes(CIFAR100_FILES.test);
  if (is10 && is100) {
    const found = entries.filter((e) => CIFAR10_BATCH.test(e) || e === CIFAR10_TEST || Object.values(CIFAR100_FILES).includes(e));
    throw new DataError(dir, `holds both CIFAR-10 and CIFAR-100 files (${listNames(found.sort())}): give the .bin file to read, or keep each data set in its own folder`);
  }
  if (is10) {
    const last = Math.max(CIFAR10_BATCHES, ...batches);
    return { kind: 'CIFAR-10', train: Array.from({ length: last }, (_, k) => `data_batch_${k + 1}.bin`), test: CIFAR10_TEST };
  }
  if (is100) return { kind: 'CIFAR-100', train: [CIFAR100_FILES.train], test: CIFAR100_FILES.test };
  return undefined;
}

/** `a.bin` for one file, `a.bin to e.bin` for several. */
function fileRange(files: readonly string[]): string {
  return files.length === 1 ? files[0] : `${files[0]} to ${files[files.length - 1]}`;
}

/**
 * Opens the part of a CIFAR folder (found by {@link findCifarInFolder}) that `split` picks: the training batches, all
 * read and joined in order, or the test file. A missing file of the part is a `DataError` naming the folder and the
 * file; so is every other problem of {@link openCifarFile}'s list.
 */
export async function openCifarFolder(
  dir: string,
  found: CifarFolder,
  inputShape: [number, number, number] = CIFAR_DEFAULT_SHAPE,
  split: DataPart = 'train',
): Promise<CifarSource> {
  const layout = found.kind === 'CIFAR-10' ? CIFAR10 : CIFAR100;
  const entries = new Set(await readdir(dir));
  const files = split === 'train' ? found.train : [found.test];
  const missing = files.filter((f) => !entries.has(f));
  if (missing.length > 0) {
    const partName = split === 'train' ? `training part (${fileRange(files)})` : 'test part';
    const verb = missing.length === 1 ? 'is' : 'are';
    throw new DataError(dir, `${listNames(missing)} ${verb} missing: the ${layout.title} ${partName} needs ${missing.length === 1 ? 'it' : 'them'}`);
  }
  const paths = files.map((f) => join(dir, f));
  const name = paths.length === 1 ? paths[0] : dir;
  const what = `${dir}: ${layout.title} ${split === 'train' ? 'training' : 'test'} part (${fileRange(files)})`;
  return readCifar(name, paths, layout, await readClassNames(dir, layout), inputShape, split, what);
}

/**
 * Opens one CIFAR binary file as a single-part source (its `part` is undefined, whatever a split said). The layout
 * comes from the name where that is unambiguous (`data_batch_<n>.bin`, `test_batch.bin`: CIFAR-10; `train.bin`,
 * `test.bin`: CIFAR-100), else from the names file beside it (`batches.meta.txt` or `fine_label_names.txt`, where
 * exactly one is there). The class names are read from that file beside it; CIFAR-10 falls back on the standard
 * names ({@link CIFAR10_CLASSES}) where it has none, CIFAR-100 cannot. Throws `DataError`, one line naming the
 * file, for: a layout it cannot tell, a size that is not a whole number of records (or no records), a label byte
 * out of range, a names file with a wrong number of names or a name twice, a missing CIFAR-100 names file.
 */
export async function openCifarFile(
  path: string,
  inputShape: [number, number, number] = CIFAR_DEFAULT_SHAPE,
): Promise<CifarSource> {
  const dir = dirname(path);
  const file = basename(path);
  let layout: CifarLayout | undefined;
  if (CIFAR10_BATCH.test(file) || file === CIFAR10_TEST) layout = CIFAR10;
  else if (Object.values(CIFAR100_FILES).includes(file)) layout = CIFAR100;
  else {
    const entries = await readdir(dir);
    const beside = [CIFAR10, CIFAR100].filter((l) => entries.includes(l.namesFile));
    if (beside.length !== 1) {
      throw new DataError(
        path,
        `not a known CIFAR file name (CIFAR-10: data_batch_<n>.bin, test_batch.bin; CIFAR-100: train.bin, test.bin), and ${beside.length === 0 ? 'neither' : 'both'} ${CIFAR10.namesFile} ${beside.length === 0 ? 'nor' : 'and'} ${CIFAR100.namesFile} beside it to tell which`,
      );
    }
    layout = beside[0];
  }
  return readCifar(path, [path], layout, await readClassNames(dir, layout), inputShape, undefined, `${path}: ${layout.title} file`);
}

/** Class names and where they came from. */
interface ClassNames {
  names: string[];
  /** True where they are the standard names, the names file not being there. */
  standard: boolean;
}

/**
 * Reads a layout's class names file in `dir`: one name a line, surrounding spaces and blank lines (the distribution's
 * files end with some) left out. Where the file is not there: the standard names, or a `DataError` naming the file.
 */
async function readClassNames(dir: string, layout: CifarLayout): Promise<ClassNames> {
  const path = join(dir, layout.namesFile);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && layout.standardNames) return { names: [...layout.standardNames], standard: true };
    if (code === 'ENOENT') {
      throw new DataError(path, `no such file: the ${layout.classCount} ${layout.title} class names are read from it (one a line)`);
    }
    throw new DataError(path, `cannot read: ${messageOf(err)}`);
  }
  const names: string[] = [];
  const lineOf = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const name = raw.trim();
    if (name === '') return;
    const first = lineOf.get(name);
    if (first !== undefined) throw new DataError(path, `class name "${name}" is on line ${first} and again on line ${i + 1}`);
    lineOf.set(name, i + 1);
    names.push(name);
  });
  if (names.length !== layout.classCount) {
    throw new DataError(path, `holds ${names.length} class name${names.length === 1 ? '' : 's'}; ${layout.title} has ${layout.classCount}, one a line`);
  }
  return { names, standard: false };
}

/**
 * The number of whole records in a file of `size` bytes, or a `DataError` naming the file where it is empty or not
 * a whole number of records (saying so when it would be one of the other layout's).
 */
function recordCount(path: string, size: number, layout: CifarLayout): number {
  const bytes = recordBytes(layout);
  if (size === 0) throw new DataError(path, `empty file: no ${layout.title} records`);
  if (size % bytes === 0) return size / bytes;
  const other = layout === CIFAR10 ? CIFAR100 : CIFAR10;
  const hint = size % recordBytes(other) === 0 ? `; it is a whole number of ${other.title} records (${recordBytes(other)} bytes): is it a ${other.title} file?` : '';
  throw new DataError(
    path,
    `${size} bytes is not a whole number of ${bytes}-byte ${layout.title} records (${layout.labelBytes} label byte${layout.labelBytes === 1 ? '' : 's'} + ${PIXEL_BYTES} pixel bytes): ${Math.floor(size / bytes)} record${Math.floor(size / bytes) === 1 ? '' : 's'} and ${size % bytes} bytes over${hint}`,
  );
}

/**
 * Reads CIFAR files of one layout into one source named `name`, the records of each file after those of the one
 * before. Every size is checked before any file is read; each file is read whole, then its labels checked and its
 * pixels moved into place. `what` starts the description: `<path>: <what it is>`.
 */
async function readCifar(
  name: string,
  paths: readonly string[],
  layout: CifarLayout,
  classNames: ClassNames,
  inputShape: [number, number, number],
  part: DataPart | undefined,
  what: string,
): Promise<CifarSource> {
  const counts: number[] = [];
  for (const path of paths) {
    let size: number;
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new DataError(path, 'not a file');
      size = info.size;
    } catch (err) {
      if (err instanceof DataError) throw err;
      throw new DataError(path, `cannot read: ${messageOf(err)}`);
    }
    counts.push(recordCount(path, size, layout));
  }
  const total = counts.reduce((a, b) => a + b, 0);
  const pixels = new Uint8Array(total * PIXEL_BYTES);
  const labels = new Int32Array(total);
  const bytes = recordBytes(layout);
  let first = 0;
  for (let f = 0; f < paths.length; f++) {
    const path = paths[f];
    let buf: Buffer;
    try {
      buf = await readFile(path);
    } catch (err) {
      throw new DataError(path, `cannot read: ${messageOf(err)}`);
    }
    if (buf.length !== counts[f] * bytes) throw new DataError(path, `changed while being read (${buf.length} bytes, ${counts[f] * bytes} before)`);
    for (let r = 0; r < counts[f]; r++) {
      const record = r * bytes;
      if (layout.labelBytes === 2 && buf[record] >= CIFAR100_COARSE) {
        throw new DataError(path, `coarse label ${buf[record]} of record ${r} is out of range: ${layout.title} has ${CIFAR100_COARSE} coarse classes, 0..${CIFAR100_COARSE - 1}`);
      }
      const label = buf[record + layout.labelBytes - 1];
      if (label >= layout.classCount) {
        throw new DataError(path, `${layout.labelBytes === 2 ? 'fine label' : 'label'} ${label} of record ${r} is out of range: ${layout.title} has ${layout.classCount} classes, 0..${layout.classCount - 1}`);
      }
      labels[first + r] = label;
      // Planar (all red, all green, all blue) to interleaved (r g b per pixel).
      const red = record + layout.labelBytes;
      let out = (first + r) * PIXEL_BYTES;
      for (let p = 0; p < PLANE; p++, out += 3) {
        pixels[out] = buf[red + p];
        pixels[out + 1] = buf[red + PLANE + p];
        pixels[out + 2] = buf[red + 2 * PLANE + p];
      }
    }
    first += counts[f];
  }
  const files = paths.map((path, f) => ({ path, count: counts[f] }));
  return new CifarSource(name, classNames.names, inputShape, labels, pixels, part, files, describe(what, layout, classNames, labels));
}

/**
 * The one-line description of a CIFAR source, `what` then its images and classes: `cifar-10-batches-bin: CIFAR-10
 * training part (data_batch_1.bin to data_batch_5.bin), 50000 images of 32x32 RGB, 10 classes (airplane, automobile,
 * bird and 7 more), 5000 a class`.
 */
function describe(what: string, layout: CifarLayout, classNames: ClassNames, labels: Int32Array): string {
  const perClass = new Array<number>(layout.classCount).fill(0);
  for (const l of labels) perClass[l]++;
  const least = Math.min(...perClass);
  const most = Math.max(...perClass);
  const spread = least === most ? `${least} a class` : `${least} to ${most} a class`;
  const classes = `${layout.classCount} classes${layout === CIFAR100 ? ' by fine label' : ''} (${listNames(classNames.names)})`;
  const notes = [
    ...(classNames.standard ? [`standard class names (no ${layout.namesFile})`] : []),
    ...(layout === CIFAR100 ? ['coarse labels not used'] : []),
  ];
  return `${what}, ${labels.length} image${labels.length === 1 ? '' : 's'} of 32x32 RGB, ${classes}, ${spread}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
}

/** One file of a CIFAR source and its number of records. */
interface CifarFile {
  readonly path: string;
  readonly count: number;
}

/**
 * A CIFAR source: all its images in memory as 32x32x3 NHWC, its labels, a description line, and, for each example,
 * the file and record it came from (`cifar-10-batches-bin/data_batch_3.bin #1234`, records counted from 0).
 */
export class CifarSource extends MemorySource {
  /**
   * @param pixels all images, NHWC 32x32x3 each, in the order of `files`
   * @param part the part of the folder these examples are; undefined for a single file
   * @param files the files read, in order, with their record counts
   * @param description the line for `Dataset.description`
   */
  constructor(
    name: string,
    classes: string[],
    imageShape: [number, number, number],
    labels: Int32Array,
    pixels: Uint8Array,
    part: DataPart | undefined,
    private readonly files: readonly CifarFile[],
    readonly description: string,
  ) {
    super(name, classes, imageShape, labels, pixels, STORED_SHAPE, part);
  }

  /** The file and record of the example at `position`: `<file> #<record>`. */
  exampleName(position: number): string {
    let record = position;
    for (const { path, count } of this.files) {
      if (record < count) return `${path} #${record}`;
      record -= count;
    }
    return `${this.name} #${position}`;
  }
}
