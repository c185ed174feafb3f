/**
 * The public types of the data layer: data sets, batches and the options that shape them.
 */
import type * as tf from '@tensorflow/tfjs';

/** One batch of examples. The caller owns both tensors and must dispose them. */
export interface Batch {
  /** Images, float32 `[b, h, w, c]` with values in [0, 1]. */
  xs: tf.Tensor4D;
  /** One-hot labels, float32 `[b, numClasses]`. */
  ys: tf.Tensor2D;
}

/** Augmentation applied to training batches; each image draws its own random flip and offsets. */
export interface AugmentOptions {
  /** Mirror left-right with probability 1/2. */
  flip?: boolean;
  /**
   * Translate by a random whole number of pixels, up to this fraction of the width (horizontally) and height
   * (vertically) either way, filling with zeros. E.g. 0.1 on 64x64 images: up to 6 pixels.
   */
  shift?: number;
  /** Pad 4 pixels of zeros on each side, then crop a random window of the original size (CIFAR-style). */
  crop?: boolean;
}

/** How to cut a data set into batches. */
export interface BatchOptions {
  /** Examples per batch (the last batch may be smaller unless `dropRemainder`). */
  batchSize: number;
  /** Visit examples in a random order, a different one each epoch (default false: data set order). */
  shuffle?: boolean;
  /** Seed of the shuffle and of augmentation (default 0). */
  seed?: number;
  /** Epoch number, mixed into the seed so that each epoch has its own order (default 0). */
  epoch?: number;
  /** Random augmentation (for training only). */
  augment?: AugmentOptions;
  /** Leave out a last batch smaller than `batchSize` (default false). */
  dropRemainder?: boolean;
  /**
   * Leave out a last batch that would hold a single example when `batchSize` is above 1 and it is not the only batch:
   * BatchNorm in training mode normalises a batch by its own statistics, which one image does not have (PyTorch
   * refuses such a batch; tfjs trains on it with a degenerate loss). Default: `shuffle`, so training batches (shuffled,
   * a different example left out each epoch) drop it and evaluation batches (in data set order, where the same example
   * would always be left out) keep every example.
   */
  dropSingle?: boolean;
}

/** One part of a source that has several: its training or its test examples. */
export type DataPart = 'train' | 'test';

/** A labelled image data set, decoded batch by batch. */
export interface Dataset {
  /** Where it comes from, e.g. the file or folder path. */
  readonly name: string;
  /**
   * Which part of its source this data set was taken from, where the source has several and `OpenOptions.split`
   * chose among them: an HDF5 file with several `<prefix>_set_*` pairs, a folder of several .h5 files, a folder of
   * `train-*` / `t10k-*` IDX files, a folder with `train/` and `test/` sub-folders. Undefined where the source is a
   * single part (one `*_set_*` pair, one IDX images file, one image folder), which is read whatever `split` says.
   */
  readonly part?: DataPart;
  /** Class names; a label is an index into this list. */
  readonly classes: string[];
  /**
   * One line for the user on what the whole source holds and what opening it left out, where the source has one; an
   * image folder's says its classes with their image counts and the files and folders it skipped:
   * `photos: 3 classes, 82 images (blue 28, green 27, red 27); skipped 12 files that are not JPEG, PNG or WebP (.gif,
   * .tif)`. It describes the source, before `limit` and the validation split.
   */
  readonly description?: string;
  /** Number of examples. */
  readonly size: number;
  /** Shape `[h, w, c]` of one example's image as batched, after resizing: the model's input shape. */
  readonly imageShape: [number, number, number];
  /**
   * Batches decoded on demand (a data set larger than memory still works); shuffled per epoch with seed and epoch.
   * The caller disposes the tensors. Stopping early (`break`) is fine: nothing is left allocated.
   */
  batches(opts: BatchOptions): AsyncGenerator<Batch>;
  /** Integer labels of all examples in data set order (for metrics and confusion matrices). */
  labels(): Promise<Int32Array>;
  /**
   * Where the example at `index` (in data set order) comes from, for the user to find it: an image file's path, or
   * the source's path as it was opened and the example's position in it (`data/test_signs.h5 #12`, counting from 0).
   */
  sourceOf?(index: number): string | undefined;
}

/** How to open a data source. */
export interface OpenOptions {
  /**
   * Image shape `[h, w, c]` to deliver (images are resized, and converted to grayscale or RGB, to fit).
   * Defaults: the stored size for HDF5, 64x64x3 for image folders, 40x40x3 for IDX and CIFAR (ResNet-50
   * with its top takes nothing below 37x37).
   */
  inputShape?: [number, number, number];
  /** Fraction in [0, 1) of the examples held out as `validation`, stratified per class and seeded. */
  validationSplit?: number;
  /** Seed of the validation split and of `limit`'s pick (default 0). */
  seed?: number;
  /**
   * Which part to open where the source has several: `train_set_*` or `test_set_*` in an HDF5 file (or the
   * `*train*` / `*test*` .h5 file in a folder), `train-*` or `t10k-*` IDX files, a `train/` or `test/` sub-folder
   * (where a `val/` or `validation/` one may stand beside them or instead of `test/`). Default 'train'. A source with a single part ignores it; `Dataset.part` tells which part was read.
   */
  split?: DataPart;
  /**
   * Keep only this many examples, picked at random (seeded) in proportion to the classes, in data set order; for
   * quick demos. Applied before the validation split.
   */
  limit?: number;
}
