/**
 * The machinery shared by every format: a source that decodes examples by position, conversion of raw uint8 pixels
 * to the model's input, and the `Dataset` view (a subset of a source) that batches, shuffles and augments.
 */
import * as tf from '@tensorflow/tfjs';
import { augmentImages, augmentsAnything } from './augment.js';
import { DataError } from './errors.js';
import { mixSeed, mulberry32, shuffleInPlace } from './random.js';
import type { Batch, BatchOptions, DataPart, Dataset } from './types.js';

/** Raw 8-bit pixels of some images, NHWC. */
export interface RawImages {
  data: Uint8Array;
  /** `[n, h, w, c]` */
  shape: [number, number, number, number];
}

/** Where examples come from: labels known up front, pixels decoded on request. */
export interface ExampleSource {
  /** The file or folder it reads. */
  readonly name: string;
  /** The part of a multi-part source that it is (see `Dataset.part`); undefined for a single-part source. */
  readonly part?: DataPart;
  /** Class names; a label indexes this list. */
  readonly classes: string[];
  /** The shape every example is delivered at, `[h, w, c]`. */
  readonly imageShape: [number, number, number];
  /** One line on what the source holds and what was left out of it, where it has one (see `Dataset.description`). */
  readonly description?: string;
  /** The label of every example, in source order. */
  readonly labels: Int32Array;
  /** Where the example at `position` is, where the source can say better than its name and the position (a file). */
  exampleName?(position: number): string;
  /**
   * Reads the examples at these positions. The result may be stored at another height, width and channel count
   * (1 or 3) than `imageShape`: `toImageTensor` converts it.
   */
  read(positions: ArrayLike<number>): Promise<RawImages>;
}

/** A source whose uint8 pixels are all in memory (HDF5, IDX): reading is copying. */
export class MemorySource implements ExampleSource {
  /**
   * @param pixels all images, NHWC, `storedShape` each
   * @param storedShape `[h, w, c]` of one stored image
   * @param part the part of a multi-part source that these examples are, if the source had several
   */
  constructor(
    readonly name: string,
    readonly classes: string[],
    readonly imageShape: [number, number, number],
    readonly labels: Int32Array,
    private readonly pixels: Uint8Array,
    private readonly storedShape: [number, number, number],
    readonly part?: DataPart,
  ) {}

  async read(positions: ArrayLike<number>): Promise<RawImages> {
    const [h, w, c] = this.storedShape;
    const size = h * w * c;
    const data = new Uint8Array(positions.length * size);
    for (let i = 0; i < positions.length; i++) {
      const p = positions[i];
      data.set(this.pixels.subarray(p * size, (p + 1) * size), i * size);
    }
    return { data, shape: [positions.length, h, w, c] };
  }
}

/**
 * Converts 8-bit pixels to floats in [0, 1], mapping channels: 1 -> 3 repeats the gray value, 3 -> 1 takes the
 * luma 0.299 R + 0.587 G + 0.114 B; equal counts copy.
 */
export function toFloatPixels(raw: RawImages, channels: number): Float32Array {
  const [n, h, w, c] = raw.shape;
  const pixels = n * h * w;
  const src = raw.data;
  const out = new Float32Array(pixels * channels);
  if (c === channels) {
    for (let i = 0; i < out.length; i++) out[i] = src[i] / 255;
  } else if (c === 1) {
    for (let p = 0; p < pixels; p++) {
      const v = src[p] / 255;
      for (let k = 0; k < channels; k++) out[p * channels + k] = v;
    }
  } else if (c === 3 && channels === 1) {
    for (let p = 0; p < pixels; p++) {
      out[p] = (0.299 * src[3 * p] + 0.587 * src[3 * p + 1] + 0.114 * src[3 * p + 2]) / 255;
    }
  } else {
    throw new Error(`cannot convert ${c} channels to ${channels}`);
  }
  return out;
}

/**
 * Turns raw pixels into float images of `shape` (per example): converts channels, then resizes height and width
 * bilinearly (half-pixel centres) if they differ. With `augment`, the float pixels pass through it before becoming
 * the tensor. Leaves no tensor behind but the result.
 */
export function toImageTensor(
  raw: RawImages,
  shape: readonly [number, number, number],
  augment?: (pixels: Float32Array, shape: [number, number, number, number]) => Float32Array,
): tf.Tensor4D {
  const [n, h, w] = raw.shape;
  const [H, W, C] = shape;
  let pixels = toFloatPixels(raw, C);
  if (h !== H || w !== W) {
    const resized = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(pixels, [n, h, w, C]), [H, W], false, true));
    if (!augment) return resized;
    pixels = resized.dataSync() as Float32Array;
    resized.dispose();
  }
  if (augment) pixels = augment(pixels, [n, H, W, C]);
  return tf.tensor4d(pixels, [n, H, W, C]);
}

/** One-hot rows for the labels, float32 `[labels.length, numClasses]`. */
export function oneHot(labels: ArrayLike<number>, numClasses: number): tf.Tensor2D {
  const values = new Float32Array(labels.length * numClasses);
  for (let i = 0; i < labels.length; i++) values[i * numClasses + labels[i]] = 1;
  return tf.tensor2d(values, [labels.length, numClasses]);
}

/** Seed stream numbers, so that shuffling and augmentation draw from unrelated generators. */
const SHUFFLE_STREAM = 1;
const AUGMENT_STREAM = 2;

/**
 * The number of batches that `Dataset.batches(opts)` yields for a data set of `size` examples: `size / batchSize`
 * rounded up, or down with `dropRemainder`; one fewer where `dropSingle` (default: `shuffle`) leaves out a last batch
 * of a single example (see `BatchOptions.dropSingle`). The steps of a training epoch are
 * `batchCount(size, { batchSize, shuffle: true })`.
 */
export function batchCount(size: number, opts: Pick<BatchOptions, 'batchSize' | 'shuffle' | 'dropRemainder' | 'dropSingle'>): number {
  const { batchSize, shuffle = false, dropRemainder = false, dropSingle = shuffle } = opts;
  if (dropRemainder) return Math.floor(size / batchSize);
  const count = Math.ceil(size / batchSize);
  return dropSingle && batchSize > 1 && size % batchSize === 1 && count > 1 ? count - 1 : count;
}

/** A `Dataset` made of some examples (by position, in order) of a source. */
export class SourceDataset implements Dataset {
  readonly classes: string[];
  readonly imageShape: [number, number, number];
  /** The source's part (see `Dataset.part`). */
  readonly part?: DataPart;
  /** The source's description (see `Dataset.description`). */
  readonly description?: string;

  /**
   * @param source where the examples come from
   * @param positions which examples of the source, in data set order
   * @param name defaults to the source's name
   */
  constructor(
    readonly source: ExampleSource,
    private readonly positions: Int32Array,
    readonly name: string = source.name,
  ) {
    this.classes = source.classes;
    this.imageShape = source.imageShape;
    this.part = source.part;
    this.description = source.description;
  }

  get size(): number {
    return this.positions.length;
  }

  /** Positions of this data set's examples in its source (e.g. row numbers of the HDF5 file), in data set order. */
  get indices(): Int32Array {
    return Int32Array.from(this.positions);
  }

  async labels(): Promise<Int32Array> {
    return Int32Array.from(this.positions, (p) => this.source.labels[p]);
  }

  sourceOf(index: number): string {
    const position = this.positions[index];
    return this.source.exampleName?.(position) ?? `${this.source.name} #${position}`;
  }

  async *batches(opts: BatchOptions): AsyncGenerator<Batch> {
    const { batchSize, shuffle = false, seed = 0, epoch = 0, augment } = opts;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`batchSize must be a positive integer, got ${batchSize}`);
    }
    const order = Int32Array.from(this.positions);
    if (shuffle) shuffleInPlace(order, mulberry32(mixSeed(seed, epoch, SHUFFLE_STREAM)));
    const augmentRng = mulberry32(mixSeed(seed, epoch, AUGMENT_STREAM));
    const augmentFn = augment && augmentsAnything(augment)
      ? (pixels: Float32Array, shape: [number, number, number, number]) => augmentImages(pixels, shape, augment, augmentRng)
      : undefined;

    const count = batchCount(order.length, opts);
    const read = (b: number): Promise<RawImages> => {
      const pending = this.source.read(order.subarray(b * batchSize, Math.min((b + 1) * batchSize, order.length)));
      pending.catch(() => {}); // a read-ahead that is never awaited (early stop) must not become an unhandled rejection
      return pending;
    };
    // Read one batch ahead, so that decoding (sharp runs on worker threads) overlaps the caller's work.
    let next = count > 0 ? read(0) : undefined;
    for (let b = 0; b < count; b++) {
      const raw = await next!;
      next = b + 1 < count ? read(b + 1) : undefined;
      const labels = Int32Array.from(order.subarray(b * batchSize, b * batchSize + raw.shape[0]), (p) => this.source.labels[p]);
      const xs = toImageTensor(raw, this.imageShape, augmentFn);
      const ys = oneHot(labels, this.classes.length);
      yield { xs, ys };
    }
  }
}

/**
 * Checks that every label is a whole number that indexes a class and returns the labels as integers;
 * `where(i)` names the i-th label's place in the file, for the message.
 */
export function checkLabels(
  path: string,
  labels: ArrayLike<number>,
  numClasses: number,
  where: (i: number) => string,
): Int32Array {
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
      throw new DataError(
        path,
        `label ${label} at ${where(i)} is out of range: ${numClasses} classes take labels 0..${numClasses - 1}`,
      );
    }
    out[i] = label;
  }
  return out;
}

/**
 * `data` under another list of class names: `classes` must hold every class name of `data`. Each label is mapped by
 * name to its index in `classes`, and `batches` yields one-hot rows `classes.length` wide; the classes that `data`
 * lacks have no examples. Images, order, size, name, part and description are `data`'s. Returns `data` itself where
 * its classes already are `classes`, in the same order. Throws where a class of `data` is not in `classes` (the
 * caller checks first and words the error for the user).
 */
export function withClasses(data: Dataset, classes: readonly string[]): Dataset {
  if (data.classes.length === classes.length && data.classes.every((c, i) => c === classes[i])) return data;
  const map = Int32Array.from(data.classes, (c) => classes.indexOf(c));
  const missing = data.classes.filter((_, k) => map[k] < 0);
  if (missing.length > 0) throw new Error(`withClasses: ${data.name} has classes not in the list: ${missing.join(', ')}`);
  return new RelabeledDataset(data, [...classes], map);
}

/** A data set whose labels are renamed into another class list (see {@link withClasses}). */
class RelabeledDataset implements Dataset {
  /** `[data.classes.length, classes.length]` 0/1 matrix taking a one-hot row of `data` to one of `classes`. */
  private readonly mapping: Float32Array;

  /** @param map for each class of `data`, its index in `classes` */
  constructor(
    private readonly data: Dataset,
    readonly classes: string[],
    private readonly map: Int32Array,
  ) {
    this.mapping = new Float32Array(map.length * classes.length);
    map.forEach((to, from) => (this.mapping[from * classes.length + to] = 1));
  }

  get name(): string {
    return this.data.name;
  }

  get part(): DataPart | undefined {
    return this.data.part;
  }

  get description(): string | undefined {
    return this.data.description;
  }

  get size(): number {
    return this.data.size;
  }

  get imageShape(): [number, number, number] {
    return this.data.imageShape;
  }

  async labels(): Promise<Int32Array> {
    return (await this.data.labels()).map((label) => this.map[label]);
  }

  sourceOf(index: number): string | undefined {
    return this.data.sourceOf?.(index);
  }

  async *batches(opts: BatchOptions): AsyncGenerator<Batch> {
    for await (const { xs, ys } of this.data.batches(opts)) {
      let mapped: tf.Tensor2D;
      try {
        mapped = tf.tidy(() => tf.matMul(ys, tf.tensor2d(this.mapping, [this.map.length, this.classes.length])));
      } catch (err) {
        tf.dispose([xs, ys]);
        throw err;
      }
      ys.dispose();
      yield { xs, ys: mapped };
    }
  }
}
