/**
 * Data loading: SIGNS-style HDF5 files, image folders (one sub-folder per class), IDX files (MNIST, Fashion-MNIST)
 * and the binary CIFAR-10 and CIFAR-100 files, delivered as shuffled, optionally augmented batches of float32
 * images and one-hot labels.
 *
 * ```ts
 * const { train, validation } = await openDataset('../shared/data/signs/train_signs.h5', { validationSplit: 0.1 });
 * for await (const { xs, ys } of train.batches({ batchSize: 32, shuffle: true, epoch, augment: { flip: true } })) {
 *   // ... then xs.dispose(); ys.dispose();
 * }
 * ```
 */
import { readdir, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { CIFAR_DEFAULT_SHAPE, findCifarInFolder, openCifarFile, openCifarFolder } from './cifar.js';
import { DataError, messageOf } from './errors.js';
import { SourceDataset, type ExampleSource } from './dataset.js';
import { openH5 } from './h5.js';
import { findIdxInFolder, findLabelsFor, IDX_DEFAULT_SHAPE, openIdx } from './idx.js';
import { checkImageShape, FOLDER_DEFAULT_SHAPE, ImageFolderSource, subfolders } from './images.js';
import { stratifiedPick, stratifiedSplit } from './random.js';
import type { Dataset, OpenOptions } from './types.js';

export type { AugmentOptions, Batch, BatchOptions, DataPart, Dataset, OpenOptions } from './types.js';
export { DataError } from './errors.js';
export { MemorySource, SourceDataset, batchCount, withClasses, type ExampleSource, type RawImages } from './dataset.js';
export { loadImages, loadImagesEach, decodeImage, imageFilesIn, IMAGE_EXTENSIONS, type ImageFailure, type LoadedImages } from './images.js';
export { FASHION_MNIST_CLASSES } from './idx.js';
export { CIFAR10_CLASSES, CIFAR_DEFAULT_SHAPE } from './cifar.js';
export { augmentImages, CROP_PADDING } from './augment.js';

/** File extensions taken as HDF5. */
const H5_EXTENSIONS = /\.(h5|hdf5|he5)$/i;

/** Names of a validation sub-folder beside `train/`, in the order they are looked for. */
const VALIDATION_FOLDERS = ['val', 'validation'] as const;

/**
 * The part sub-folders among a folder's sub-folders: `train/` with `test/`, `val/` or `validation/` beside it (each
 * an image folder of class folders), or undefined where the folder is not split so. `validation` is `val` where both
 * `val/` and `validation/` are there.
 */
function partFolders(folders: readonly string[]): { test?: string; validation?: string } | undefined {
  if (!folders.includes('train')) return undefined;
  const validation = VALIDATION_FOLDERS.find((f) => folders.includes(f));
  const test = folders.includes('test') ? 'test' : undefined;
  return test === undefined && validation === undefined ? undefined : { test, validation };
}

/**
 * The validation sub-folder of a data folder split into parts: `<path>/val` (or `<path>/validation` where there is no
 * `val/`) when `path` is a folder with a `train/` image folder and such a folder beside it; undefined for anything
 * else (a file, a plain image folder, a folder of .h5 or IDX files, a path that cannot be read: `openDataset` says
 * what is wrong with it). `openDataset` with split 'train' reads `train/` and leaves it out; `train` validates on it
 * when no other validation data is asked for.
 */
export async function validationFolderOf(path: string): Promise<string | undefined> {
  try {
    if (!(await stat(path)).isDirectory() || (await findIdxInFolder(path, 'train'))) return undefined;
    const validation = partFolders(await subfolders(path))?.validation;
    return validation === undefined ? undefined : join(path, validation);
  } catch {
    return undefined;
  }
}

/**
 * Opens the example source a path names, picking the format from what is there. Where the source has several parts
 * and `opts.split` (default 'train') picks one, the source's `part` says which; a single-part source has none.
 */
async function openSource(path: string, opts: OpenOptions): Promise<ExampleSource> {
  let info;
  try {
    info = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(path, code === 'ENOENT' ? 'no such file or folder' : `cannot read: ${messageOf(err)}`);
  }
  const shape = opts.inputShape && checkImageShape(path, opts.inputShape);
  if (info.isFile()) {
    if (H5_EXTENSIONS.test(path)) return openH5(path, { inputShape: shape, split: opts.split });
    if (/idx3/i.test(basename(path))) return openIdx(path, await findLabelsFor(path), shape ?? IDX_DEFAULT_SHAPE);
    if (/\.bin$/i.test(path)) return openCifarFile(path, shape ?? CIFAR_DEFAULT_SHAPE);
    if (/idx1/i.test(basename(path))) {
      throw new DataError(path, 'an IDX labels file: give its images file (*-images-idx3-ubyte[.gz]) or their folder');
    }
    throw new DataError(
      path,
      `unknown data file type "${extname(path)}": expected an HDF5 file (.h5), an IDX images file (*-images-idx3-ubyte[.gz]), a CIFAR binary file (.bin) or a folder`,
    );
  }
  if (!info.isDirectory()) throw new DataError(path, 'neither a file nor a folder');

  const split = opts.split ?? 'train';
  const idx = await findIdxInFolder(path, split);
  if (idx) return openIdx(idx.images, idx.labels, shape ?? IDX_DEFAULT_SHAPE, split);

  const entries = await readdir(path);
  const folders = await subfolders(path);
  // CIFAR-10's file names are its own; CIFAR-100's train.bin and test.bin are not, so beside class folders they are
  // taken for stray files of an image folder.
  const cifar = findCifarInFolder(path, entries);
  if (cifar !== undefined && (cifar.kind === 'CIFAR-10' || folders.length === 0)) return openCifarFolder(path, cifar, shape ?? CIFAR_DEFAULT_SHAPE, split);

  const h5Files = entries.filter((f) => H5_EXTENSIONS.test(f)).sort();
  if (h5Files.length > 0 && folders.length === 0) {
    // One file is the whole source (with one part or several, as the file has); of several, split picks one.
    if (h5Files.length === 1) return openH5(join(path, h5Files[0]), { inputShape: shape, split });
    const file = h5Files.find((f) => f.toLowerCase().includes(split));
    if (!file) throw new DataError(path, `no ${split} HDF5 file among ${h5Files.join(', ')}`);
    return openH5(join(path, file), { inputShape: shape, split, part: split });
  }
  // An image folder, or one with train/ and test/ (or val/, validation/) image folders inside; the validation one is
  // read only where asked for (validationFolderOf).
  const parts = partFolders(folders);
  if (parts !== undefined) {
    if (split === 'test' && parts.test === undefined) {
      throw new DataError(path, `no test/ sub-folder, only train/ and ${parts.validation}/: give the folder to read itself, e.g. ${join(path, parts.validation ?? 'train')}`);
    }
    return ImageFolderSource.open(join(path, split), shape ?? FOLDER_DEFAULT_SHAPE, split);
  }
  return ImageFolderSource.open(path, shape ?? FOLDER_DEFAULT_SHAPE);
}

/**
 * Opens a data source by path: a SIGNS-style .h5 file (or a folder of them: `split` picks the `*train*` or
 * `*test*` one), an image folder (one sub-folder per class; or `train/` and `test/` folders of those, with or without
 * a `val/` or `validation/` one, which is not read here: `train` validates on it), or IDX files
 * (an images file whose labels file lies beside it, or a folder holding `train-*` / `t10k-*` files), or CIFAR
 * binary files: a `cifar-10-batches-bin/` folder (`split` picks the training part, `data_batch_1.bin` to
 * `data_batch_5.bin` joined in order, or `test_batch.bin`) or a `cifar-100-binary/` one (`train.bin` or `test.bin`,
 * classed by their 100 fine labels), or one such .bin file (a single part; its layout comes from its name, or from
 * the class names file beside it). CIFAR images are 32x32 RGB and are delivered at 40x40x3 by default
 * (ResNet-50 with its top takes nothing below 37x37); CIFAR-10 without `batches.meta.txt` gets the
 * standard class names, CIFAR-100 needs its `fine_label_names.txt`.
 * `limit` keeps a seeded, class-proportional pick of the examples; `validationSplit` then holds out that fraction
 * of every class as `validation`. Both data sets carry the source's `part` where `split` picked one of several
 * parts (undefined for a single-part source, whatever `split` said). Throws `DataError` (one line naming the file
 * and the problem) for bad input.
 */
export async function openDataset(
  path: string,
  opts: OpenOptions = {},
): Promise<{ train: Dataset; validation?: Dataset }> {
  const { validationSplit = 0, seed = 0, limit } = opts;
  if (!(validationSplit >= 0 && validationSplit < 1)) {
    throw new DataError(path, `validation split must be in [0, 1), got ${validationSplit}`);
  }
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    throw new DataError(path, `limit must be a positive whole number, got ${limit}`);
  }
  let source: ExampleSource;
  try {
    source = await openSource(path, opts);
  } catch (err) {
    if (err instanceof DataError) throw err;
    // File system errors (a folder that cannot be listed, ...) name the path they failed on.
    const failedOn = (err as NodeJS.ErrnoException).path ?? path;
    throw new DataError(failedOn, `cannot read: ${messageOf(err)}`);
  }
  const all = source.labels;
  let positions: Int32Array = Int32Array.from({ length: all.length }, (_, i) => i);
  if (limit !== undefined && limit < positions.length) positions = stratifiedPick(all, limit, seed);
  if (validationSplit === 0) return { train: new SourceDataset(source, positions) };

  const picked = Int32Array.from(positions, (p) => all[p]);
  const split = stratifiedSplit(picked, validationSplit, seed);
  if (split.validation.length === 0 || split.train.length === 0) {
    throw new DataError(
      path,
      `validation split ${validationSplit} of ${positions.length} examples leaves ${split.train.length} for training and ${split.validation.length} for validation`,
    );
  }
  return {
    train: new SourceDataset(source, Int32Array.from(split.train, (i) => positions[i])),
    validation: new SourceDataset(source, Int32Array.from(split.validation, (i) => positions[i]), `${source.name} (validation)`),
  };
}
