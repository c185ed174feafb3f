/**
 * Evaluation of a trained model on a labelled data set: loss, accuracy, per-class precision and recall, confusion
 * matrix. The model runs in inference mode (`model.predict`): BatchNorm normalizes with its moving mean and variance,
 * not with the statistics of the batch.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from '../backend/index.js';
import { openDataset, withClasses, type DataPart, type Dataset } from '../data/index.js';
import type { CheckpointChoice } from './checkpoint.js';
import { loadInferenceModel } from './inference.js';
import { formatImageShape, modelClassCount, modelInputShape, modelMetadata } from './io.js';
import { type ClassMetrics, accuracyOf, classMetrics, confusionMatrix, addConfusion } from './metrics.js';
import { type Mistake, MISTAKES_SHOWN, MistakeCollector } from './mistakes.js';

/** The result of an evaluation. */
export interface EvaluationResult {
  /** Mean categorical cross-entropy over all images. */
  loss: number;
  /** Fraction of images whose highest-scoring class is the true one. */
  accuracy: number;
  /** Number of images evaluated. */
  count: number;
  /** Class names, in the model's output order. */
  classes: string[];
  /** `confusion[t][p]`: images of true class `t` predicted as `p`. */
  confusion: number[][];
  /** Per-class precision, recall and support. */
  perClass: ClassMetrics[];
  /** The most confident mistakes (at most {@link EvaluateOptions.mistakes}), most confident first, with their images. */
  mistakes: Mistake[];
  /**
   * From {@link evaluate}: the part of a multi-part source that was evaluated (`Dataset.part`, chosen by `split`);
   * absent where the source has a single part, which is read whatever `split` says.
   */
  part?: DataPart;
}

/**
 * Checks that a data set fits a model for training: same image shape, same number of classes and, where the model's
 * metadata names its classes (models this library saves do), the same class names in the same order. Throws a
 * one-line error naming `source` otherwise. Data to evaluate may hold fewer classes: see {@link alignClasses}.
 */
export function checkCompatible(model: tf.LayersModel, data: Dataset, source = data.name): void {
  const expected = modelInputShape(model);
  if (!tf.util.arraysEqual(expected, data.imageShape)) {
    throw new Error(`input shape mismatch: the model takes ${formatImageShape(expected)} images, ${source} gives ${formatImageShape(data.imageShape)}`);
  }
  const classes = modelClassCount(model);
  if (classes !== data.classes.length) {
    throw new Error(`class count mismatch: the model has ${classes} classes, ${source} has ${data.classes.length}`);
  }
  const named = modelMetadata(model).classes;
  if (Array.isArray(named) && named.length === classes) checkSameClasses(named, data.classes, 'the model was trained on', source);
}

/**
 * Throws a one-line error unless `actual` (the classes of `source`) are `expected` in the same order; `what`
 * says where `expected` comes from ("the model was trained on").
 */
export function checkSameClasses(expected: readonly string[], actual: readonly string[], what: string, source: string): void {
  if (expected.length === actual.length && expected.every((c, i) => c === actual[i])) return;
  const list = (names: readonly string[]): string => `[${names.join(', ')}]`;
  throw new Error(`class mismatch: ${what} classes ${list(expected)}, ${source} has ${list(actual)}`);
}

/**
 * `data` with its labels mapped by name onto `classes` (see `withClasses`), after checking that every class of `data`
 * is one of `classes`: data that holds some of the classes (a folder of two of three class folders) is measured over
 * all of them, the others having no images. Throws a one-line error naming `source` and the classes that `owner`
 * (`the model`, `the training data x`) does not have:
 * `class mismatch: photos has a class that the model does not have: [cat] (it has [blue, green, red])`.
 */
export function mapClasses(data: Dataset, classes: readonly string[], owner: string, source = data.name): Dataset {
  const unknown = data.classes.filter((c) => !classes.includes(c));
  if (unknown.length > 0) {
    const list = (names: readonly string[]): string => `[${names.join(', ')}]`;
    throw new Error(`class mismatch: ${source} has ${unknown.length === 1 ? 'a class' : 'classes'} that ${owner} does not have: ${list(unknown)} (it has ${list(classes)})`);
  }
  return withClasses(data, classes);
}

/**
 * Checks that a data set can be evaluated by a model and returns it with labels that index the model's outputs. Its
 * images must have the model's input shape. Where the model's metadata names its classes (models this library saves
 * do), every class of the data must be one of them, matched by name: the data may hold only some (their labels are
 * mapped to the model's indices, and the others have no images); a class the model lacks is refused, as a model
 * evaluated on other classes would print a meaningless accuracy under its own names. A model without class names
 * (a plain Keras file) must have as many classes as the data, taken in the data's order. Throws a one-line error
 * naming `source` otherwise.
 */
export function alignClasses(model: tf.LayersModel, data: Dataset, source = data.name): Dataset {
  const named = modelMetadata(model).classes;
  if (!(Array.isArray(named) && named.length === modelClassCount(model))) {
    checkCompatible(model, data, source);
    return data;
  }
  const aligned = mapClasses(data, named, 'the model', source);
  checkCompatible(model, aligned, source);
  return aligned;
}

/** Told how far an evaluation is: `done` of `total` images. */
export type EvaluationProgress = (done: number, total: number) => void;

/**
 * Runs `model` in inference mode over every image of `data` (in data set order, no augmentation) and measures loss,
 * accuracy and the confusion matrix over the model's classes: data naming only some of them is mapped by name
 * ({@link alignClasses}). `classes` names the classes in reports (default: the model's names where its metadata has
 * them, else the data set's).
 * `onProgress` is told `(0, data.size)` before the first batch and the images done after each batch (the last call
 * says `data.size`). Between batches the event loop gets a turn, so that a progress bar redraws and a signal handler
 * (Ctrl-C) runs. The `keepMistakes` most confident mistakes are kept with their images.
 */
export async function evaluateModel(
  model: tf.LayersModel,
  data: Dataset,
  batchSize = 32,
  classes?: string[],
  onProgress?: EvaluationProgress,
  keepMistakes = MISTAKES_SHOWN,
): Promise<EvaluationResult> {
  data = alignClasses(model, data);
  classes ??= data.classes;
  const n = data.classes.length;
  const confusion = confusionMatrix([], [], n);
  const mistakes = new MistakeCollector(keepMistakes);
  let lossSum = 0;
  let count = 0;
  onProgress?.(0, data.size);
  for await (const { xs, ys } of data.batches({ batchSize })) {
    try {
      const [loss, probs, predicted, truth] = tf.tidy(() => {
        const probs = model.predict(xs) as tf.Tensor2D;
        return [tf.metrics.categoricalCrossentropy(ys, probs).sum(), probs, probs.argMax(-1), ys.argMax(-1)];
      });
      try {
        lossSum += (await loss.data())[0];
        const [p, t] = await Promise.all([predicted.data(), truth.data()]);
        addConfusion(confusion, confusionMatrix(t, p, n));
        if (mistakes.keep > 0 && (p as Int32Array).some((c, i) => c !== t[i])) {
          await mistakes.add({
            probs: (await probs.data()) as Float32Array,
            classes: n,
            truth: t,
            predicted: p,
            offset: count,
            imageShape: data.imageShape,
            readImages: async () => (await xs.data()) as Float32Array,
            sourceOf: (i) => data.sourceOf?.(i),
          });
        }
        count += t.length;
      } finally {
        tf.dispose([loss, probs, predicted, truth]);
      }
    } finally {
      tf.dispose([xs, ys]);
    }
    onProgress?.(count, data.size);
    await new Promise<void>((resolveBatch) => setImmediate(resolveBatch));
  }
  return {
    loss: count === 0 ? NaN : lossSum / count,
    accuracy: accuracyOf(confusion),
    count,
    classes,
    confusion,
    perClass: classMetrics(confusion, classes),
    mistakes: mistakes.mistakes,
  };
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
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
  /** A data source path (opened at the model's input shape) or an open data set. */
  data: string | Dataset;
  /** Which part of a source with several to use (default 'test'). */
  split?: 'train' | 'test';
  /** Evaluate only this many images (a seeded, class-proportional pick). */
  limit?: number;
  /** Images per forward pass (default 32). */
  batchSize?: number;
  /** How many of the most confident mistakes to keep with their images (default 16; 0 keeps none). */
  mistakes?: number;
  /**
   * Backend to initialize first (default 'auto', as in `train`: the native `onednn` backend when its addon loads,
   * else tfjs's pure-JS `cpu` backend).
   */
  backend?: BackendChoice;
  /**
   * Told how far the evaluation is, once the model and the data are loaded: `(0, total)` before the first batch, then
   * the images done after each batch (the last call says `total`).
   */
  onProgress?: EvaluationProgress;
  /**
   * Told the data's one-line description (`Dataset.description`: an image folder's classes with their image counts,
   * and what was skipped) once the data is open and before the evaluation starts, where the data has one.
   */
  onDescription?: (line: string) => void;
}

/**
 * Evaluates a model on a labelled data set, on the backend `options.backend` picks (default: the fastest available).
 * Class names come from the model's metadata when it has them (data holding only some of them, matched by name, is
 * measured over all of them; a class the model does not have is refused), else from the data. A model given by path
 * is loaded and disposed here; a model given as an object is left to the caller. Either way the model runs with its
 * BatchNorms folded (as `foldBatchNorm` folds them), in inference mode.
 */
export async function evaluate(options: EvaluateOptions): Promise<EvaluationResult> {
  const keep = options.mistakes ?? MISTAKES_SHOWN;
  if (!Number.isInteger(keep) || keep < 0) throw new RangeError(`mistakes must be a whole number of at least 0, got ${keep}`);
  await initBackend(options.backend ?? 'auto');
  const model = await loadInferenceModel(options.model, options.checkpoint);
  try {
    const data =
      typeof options.data === 'string'
        ? (await openDataset(options.data, { inputShape: modelInputShape(model), split: options.split ?? 'test', limit: options.limit })).train
        : options.data;
    if (data.description !== undefined) options.onDescription?.(data.description);
    // The classes are the model's: named in its metadata (the data may hold some of them), else the data's.
    const result = await evaluateModel(model, data, options.batchSize ?? 32, undefined, options.onProgress, keep);
    return data.part === undefined ? result : { ...result, part: data.part };
  } finally {
    model.dispose();
  }
}
