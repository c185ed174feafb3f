/**
 * Prediction on image files: the top-k classes of each image with their probabilities, in inference mode.
 */
import { lstat, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { imageFilesIn, loadImages, loadImagesEach, type ImageFailure } from '../data/index.js';
import { checkPositiveWhole } from './validate.js';
import { fsErrorReason, missingFoldersSync, writeFileAtomicMakingFolders } from './fsutil.js';
import { GRID_LINE_CHARS, type GridCell, classLine, clipStart, imageGridSvg, imagesShown, thumbnailOfFile } from './image_grid.js';
import { svgToPng } from './report.js';
import type { CheckpointChoice } from './checkpoint.js';
import { loadInferenceModel } from './inference.js';
import { modelClassCount, modelInputShape, modelMetadata } from './io.js';

/** One class and its probability. */
export interface ClassScore {
  /** Class name (from the model's metadata; the index as text when it has none). */
  class: string;
  /** Output index of the class. */
  index: number;
  /** Softmax probability. */
  probability: number;
}

/** The prediction for one image. */
export interface Prediction {
  /** The image file. */
  file: string;
  /** The `topK` most probable classes, most probable first. */
  top: ClassScore[];
}

export type { ImageFailure } from '../data/index.js';

/** What {@link predictEach} returns: the predictions of the images it could read, and the files it could not. */
export interface PredictOutcome {
  /**
   * Every image file it tried, in order, a folder given standing for its own image files (as `PredictOptions.images`
   * says): each is in one of the lists below.
   */
  files: string[];
  /** One prediction per readable image, in the order of the files. */
  predictions: Prediction[];
  /** The files that could not be read (missing, not an image, undecodable), in order, each with the problem. */
  failed: ImageFailure[];
}

/** Options of {@link predict} and {@link predictEach}. */
export interface PredictOptions {
  /**
   * A saved model folder (`model.json`), a training run folder (its latest or best checkpoint, as `checkpoint` says),
   * a run's `checkpoints/latest` or `checkpoints/best` pointer file, a Keras `.h5` or `.hdf5` file, or a loaded model.
   */
  model: string | tf.LayersModel;
  /**
   * For a training run folder: its latest checkpoint (when not given) or its best by the monitored loss (validation
   * loss, else training loss). Given for anything else (a saved model, a model object), it is an error rather than
   * ignored.
   */
  checkpoint?: CheckpointChoice;
  /**
   * Image files (JPEG, PNG, WebP), each stretched to the model's input shape as a whole, or folders of them: a folder
   * stands for the image files directly in it (by extension: .jpg, .jpeg, .png, .webp; hidden files left out), sorted
   * by name; its sub-folders are not searched. A folder with no image files is an error naming it.
   */
  images: string[];
  /** How many classes to report per image: a positive whole number (default 3; more than the model has means all). */
  topK?: number;
  /** Images per forward pass: a positive whole number (default 32). */
  batchSize?: number;
  /**
   * Backend to run on, set with `initBackend` before the model is loaded. Default `auto` (as {@link train}): the
   * native `onednn` backend when its addon loads, else tfjs's `cpu`.
   */
  backend?: BackendChoice;
}

/**
 * Expands folders among `paths` into the image files directly inside them (by extension: .jpg, .jpeg, .png, .webp;
 * hidden files left out), sorted by name; sub-folders are not searched, so a folder of class folders (a training
 * data set) is not mistaken for a folder of photos. Other paths are kept as given, in order, for the image loader to
 * check. A folder with no image files is an error naming it.
 */
export async function listImageFiles(paths: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    let isDir = false;
    try {
      isDir = (await stat(path)).isDirectory();
    } catch {
      // Missing or unreadable: the image loader names the file and the problem.
    }
    if (!isDir) {
      files.push(path);
      continue;
    }
    // The same pick as the data loader's class folders.
    const images = await imageFilesIn(path);
    if (images.length === 0) {
      throw new Error(`${path}: no image files in this folder (.jpg, .jpeg, .png, .webp; sub-folders are not searched)`);
    }
    files.push(...images);
  }
  return files;
}

/**
 * Predicts the top-k classes of each image; folders among `images` stand for the image files in them (see
 * {@link PredictOptions.images}). A file that is missing or not an image is an error naming the file (a `DataError`);
 * {@link predictEach} predicts the other images instead.
 * A model given by path is loaded and disposed here; a model given as an object is left to the caller. Either way the
 * model runs with its BatchNorms folded (as `foldBatchNorm` folds them), in inference mode.
 */
export async function predict(options: PredictOptions): Promise<Prediction[]> {
  return (await run(options, true)).predictions;
}

/**
 * Predicts the top-k classes of every image that can be read, as {@link predict} does, and lists the files that
 * cannot (missing, not an image, undecodable) with the problem instead of failing on the first: for batch work over a
 * folder of photos. Problems that are not one file's (the model, a folder without images) still throw.
 */
export async function predictEach(options: PredictOptions): Promise<PredictOutcome> {
  return run(options, false);
}

/** {@link predict} (`stopAtFailure`: throw at the first unreadable file) and {@link predictEach}. */
async function run(options: PredictOptions, stopAtFailure: boolean): Promise<PredictOutcome> {
  const batchSize = options.batchSize ?? 32;
  const topK = options.topK ?? 3;
  checkPositiveWhole(batchSize, 'batch size');
  checkPositiveWhole(topK, 'topK');
  if (options.images.length === 0) throw new Error('no images to predict');
  const images = await listImageFiles(options.images);
  await initBackend(options.backend ?? 'auto');
  const model = await loadInferenceModel(options.model, options.checkpoint);
  try {
    const shape = modelInputShape(model);
    const n = modelClassCount(model);
    const names = modelMetadata(model).classes;
    const k = Math.min(topK, n);
    const predictions: Prediction[] = [];
    const failed: ImageFailure[] = [];
    for (let start = 0; start < images.length; start += batchSize) {
      const batch = images.slice(start, start + batchSize);
      // predict: the first unreadable file is an error, as loadImages makes it.
      const loaded = stopAtFailure ? { files: batch, images: await loadImages(batch, shape), failed: [] } : await loadImagesEach(batch, shape);
      failed.push(...loaded.failed);
      const xs = loaded.images;
      if (xs === undefined) continue;
      const { values, indices } = tf.tidy(() => tf.topk(model.predict(xs) as tf.Tensor2D, k));
      xs.dispose();
      const [v, ix] = await Promise.all([values.data(), indices.data()]);
      tf.dispose([values, indices]);
      loaded.files.forEach((file, i) => {
        const top: ClassScore[] = [];
        for (let j = 0; j < k; j++) {
          const index = ix[i * k + j];
          top.push({ class: names?.[index] ?? String(index), index, probability: v[i * k + j] });
        }
        predictions.push({ file, top });
      });
    }
    return { files: images, predictions, failed };
  } finally {
    model.dispose();
  }
}

/** The most images a prediction sheet shows (the first ones, in the order of the predictions). */
export const SHEET_MAX_IMAGES = 64;

/** The file formats of a prediction sheet, by the extension of its path. */
export const SHEET_EXTENSIONS = ['.png', '.svg'];

/**
 * A contact sheet of `predictions`: each image (its file, upright) with its most probable class and that class's
 * probability, the next two classes in grey, and its file name; the first {@link SHEET_MAX_IMAGES} predictions at
 * most. An SVG document with the images embedded.
 */
export async function predictionSheetSvg(predictions: readonly Prediction[]): Promise<string> {
  const shown = predictions.slice(0, SHEET_MAX_IMAGES);
  const cells: GridCell[] = [];
  for (const p of shown) {
    const [first, ...rest] = p.top;
    cells.push({
      png: await thumbnailOfFile(p.file),
      lines: [
        { text: classLine('', first.class, first.probability) },
        ...rest.slice(0, 2).map((t) => ({ text: classLine('', t.class, t.probability), color: '#777' })),
        { text: clipStart(basename(p.file), GRID_LINE_CHARS), small: true },
      ],
    });
  }
  return imageGridSvg(`Predictions: ${imagesShown(shown.length, predictions.length)}`, cells);
}

/**
 * Checks, before any work, that a prediction sheet may be written to `path`: a .png or .svg path
 * ({@link SHEET_EXTENSIONS}) that is not a folder, not under a file, and not one of `images` (the image files to
 * predict: the sheet would replace one of them). Missing folders on the way are fine: the write makes them. Throws a
 * one-line error naming `path` otherwise.
 */
export async function checkSheetTarget(path: string, images: readonly string[]): Promise<void> {
  if (!SHEET_EXTENSIONS.includes(extname(path).toLowerCase())) throw new Error(`${path}: a prediction sheet is a .png or .svg file`);
  let target: string;
  try {
    if ((await lstat(path)).isDirectory()) throw new Error(`${path}: is a folder`);
    target = await realpath(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined) throw err;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new Error(`${path}: ${fsErrorReason(err)}`);
    // Nothing there: only a file on the way can stand in the write's way (the missing folders are made).
    const parent = dirname(resolve(path));
    const missing = missingFoldersSync(parent);
    const existing = missing.length > 0 ? dirname(missing[0]) : parent;
    if (!(await stat(existing)).isDirectory()) throw new Error(`${path}: ${existing} is a file, not a folder`);
    return;
  }
  for (const image of images) {
    if ((await realpath(image).catch(() => resolve(image))) === target) {
      throw new Error(`${path}: is one of the images to predict; write the sheet elsewhere`);
    }
  }
}

/**
 * Writes a contact sheet of `predictions` to `path`, as PNG or SVG by its extension (`.png` or `.svg`): each image
 * (read again from its file, turned upright) with its most probable class and that class's probability, the next two
 * classes in grey, and its file name; the first 64 predictions at most, with a title saying how many it shows.
 *
 * Before any work it refuses, with a one-line error naming `path`, another extension, a folder, a path under a file,
 * and one of the predicted images itself (the sheet would replace it); missing folders on the way are made. The write
 * is atomic: a failed one leaves whatever was at `path` before, and removes the folders it made for it.
 */
export async function writePredictionSheet(path: string, predictions: readonly Prediction[]): Promise<void> {
  await checkSheetTarget(path, predictions.map((p) => p.file));
  const svg = await predictionSheetSvg(predictions);
  const data = extname(path).toLowerCase() === '.svg' ? svg : await svgToPng(svg);
  await writeFileAtomicMakingFolders(path, data);
}
