/**
 * Saving and loading models on disk in the standard TensorFlow.js layout: a folder with `model.json` (topology,
 * weights manifest, metadata) and `weights.bin` (the weights, float32 little-endian, in manifest order).
 *
 * That is the layout `tf.loadLayersModel('file://…/model.json')` (tfjs-node) and `tf.loadLayersModel(url)` (browser)
 * read, so a model saved here loads wherever TensorFlow.js runs. The `file://` handler itself needs tfjs-node, which
 * this project does not use; these functions do the same job with plain `node:fs`.
 *
 * Class names, input shape and architecture travel with the model in `model.json`'s `userDefinedMetadata`.
 */
import { promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { messageOf } from '../data/errors.js';
import { HDF5_SIGNATURE } from '../data/h5.js';
import { isKerasH5Path, loadKerasH5 } from '../io/keras_h5.js';
import { exists, readHead, writeDirAtomic, writeFileSynced, type TargetInUseError } from './fsutil.js';
import { BEST_FILE, CHECKPOINTS_DIR, LATEST_FILE, pointerTarget } from './run_layout.js';

/** File name of the topology and manifest. */
export const MODEL_JSON = 'model.json';
/** File name of the weights written by {@link saveModel}. */
export const WEIGHTS_BIN = 'weights.bin';

/**
 * What this library stores in `model.json`'s `userDefinedMetadata` (and a Keras file's `resnet_metadata`): `train`
 * attaches it to the models it trains; `predict` names classes by `classes`.
 */
export interface ModelMetadata {
  /** Class names, index `i` naming output unit `i`. */
  classes?: string[];
  /** Input image shape `[height, width, channels]`. */
  inputShape?: [number, number, number];
  /** Architecture name, e.g. `resnet50`. */
  arch?: string;
  /** Name of the data set the model was trained on. */
  dataset?: string;
}

/** The `model.json` document, as this module writes and reads it. */
interface ModelJson {
  modelTopology: tf.io.ModelJSON['modelTopology'];
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: tf.io.WeightsManifestConfig;
  userDefinedMetadata?: Record<string, unknown>;
  trainingConfig?: tf.io.TrainingConfig;
}

/**
 * Writes `model` into the (existing, empty) folder `dir` as `model.json` + `weights.bin`, each flushed to disk, with
 * `metadata` merged over the model's own user-defined metadata (as {@link saveModel} describes).
 * Not atomic by itself: {@link saveModel} and checkpoints wrap it in a temporary folder that is renamed at the end.
 */
export async function writeModelFiles(model: tf.LayersModel, dir: string, metadata?: ModelMetadata): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : tf.io.CompositeArrayBuffer.join(artifacts.weightData);
      const userDefinedMetadata = { ...(artifacts.userDefinedMetadata ?? {}), ...(metadata ?? {}) };
      const json: ModelJson = {
        modelTopology: artifacts.modelTopology as tf.io.ModelJSON['modelTopology'],
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [WEIGHTS_BIN], weights: artifacts.weightSpecs ?? [] }],
      };
      if (Object.keys(userDefinedMetadata).length > 0) json.userDefinedMetadata = userDefinedMetadata;
      await writeFileSynced(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
      await writeFileSynced(join(dir, MODEL_JSON), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON({ ...artifacts, weightData }) };
    }),
  );
}

/**
 * The files of a saved model in `dir`: `model.json`, `weights.bin` and the weights files that `dir/model.json` names
 * (such as the tfjs converter's `group1-shard1of1.bin`), when it names any that sit directly in `dir`.
 */
async function savedModelFiles(dir: string): Promise<Set<string>> {
  const names = new Set([MODEL_JSON, WEIGHTS_BIN]);
  try {
    const json = JSON.parse(await fsp.readFile(join(dir, MODEL_JSON), 'utf8')) as Partial<ModelJson>;
    for (const group of json.weightsManifest ?? []) {
      for (const p of group.paths ?? []) if (typeof p === 'string' && basename(p) === p && p.endsWith('.bin')) names.add(p);
    }
  } catch {
    // No readable model.json: only the two standard names count as model files.
  }
  return names;
}

/**
 * Saves `model` to the folder `dir` as `model.json` + `weights.bin`. Its `userDefinedMetadata` is the model's own
 * (such as the class names `train` attaches), with `metadata` (class names, input shape, …), when given, merged over
 * it: a key of `metadata` wins, the model's other keys are kept. The folder appears (or is replaced) atomically.
 *
 * `dir` may be missing, an empty folder, or a previously saved model (only `model.json` and its weights files); it is
 * never anything else. A folder holding any other entry, a path that is a file or a symbolic link, and the current
 * folder are refused with a {@link TargetInUseError} (`<dir>: folder is not empty and is not a saved model (holds
 * notes.txt)`) before anything is written, and left exactly as they were.
 */
export async function saveModel(model: tf.LayersModel, dir: string, metadata?: ModelMetadata): Promise<void> {
  const owned = await savedModelFiles(resolve(dir));
  await writeDirAtomic(dir, (tmp) => writeModelFiles(model, tmp, metadata), { owns: (name) => owned.has(name), kind: 'a saved model' });
}

const BYTES_PER_DTYPE: Record<string, number> = { float32: 4, int32: 4, bool: 1, float16: 2, uint8: 1, int16: 2, complex64: 8 };

/**
 * Loads a model saved in the standard layout: `path` is the folder holding `model.json`, or `model.json` itself
 * (or a Keras HDF5 model file, read by `loadKerasH5`, or a training run's pointer file `<run>/checkpoints/latest` or
 * `<run>/checkpoints/best`, which is followed to the checkpoint it names). A training run folder itself is refused
 * with a message naming those two pointer files.
 * Weights may be split over several files (as the tfjs converter writes them). Every problem is reported as one line
 * that names the file: a missing folder, a folder without `model.json`, a file that is not a model at all (an image,
 * say), bad JSON, a missing or truncated weights file. The file's bytes are never quoted raw.
 */
export async function loadModel(path: string): Promise<tf.LayersModel> {
  if (isKerasH5Path(path)) return loadKerasH5(path); // a Keras HDF5 model file (see src/io/keras_h5.ts)
  // A pointer file is followed, as a symbolic link would be: it names exactly one checkpoint, so what the user means
  // is plain, and refusing it would only send them to look up the epoch-NNNN folder it names (which changes as
  // training goes on and old checkpoints are pruned), the very lookup the pointer exists to spare.
  const pointed = await pointerTarget(path);
  if (pointed !== undefined) return loadModel(pointed);
  const { dir, file } = await locateModelJson(path);
  // A file given directly is named as given; the model.json of a folder by its full path.
  const named = resolve(path) === file ? path : file;
  const head = await readHead(file, 64);
  // A Keras HDF5 file under another extension (such as .hdf5) is recognised by its signature.
  if (head.subarray(0, HDF5_SIGNATURE.length).equals(HDF5_SIGNATURE)) return loadKerasH5(named);
  // Anything that does not even start like a JSON document (an image, a text file) is not a model at all: say what a
  // model path may be, rather than quote a parse error with the file's bytes in it.
  if (basename(file) !== MODEL_JSON && !/^[\s\uFEFF]*[{[]/.test(head.toString('utf8'))) {
    throw new Error(`${named}: not a model (expected a model folder with ${MODEL_JSON}, a ${MODEL_JSON} file, a Keras .h5 or .hdf5 file or a training run folder)`);
  }
  let json: ModelJson;
  try {
    json = JSON.parse(decodeText(await fsp.readFile(file)).replace(/^\uFEFF/, '')) as ModelJson;
  } catch (err) {
    throw new Error(`${named}: not a valid model.json: ${printable(messageOf(err))}`);
  }
  if (json === null || typeof json !== 'object' || json.modelTopology == null) {
    throw new Error(`${named}: not a TensorFlow.js layers model (no modelTopology)`);
  }
  const artifacts = await tf.io.getModelArtifactsForJSON(json as tf.io.ModelJSON, async (manifest) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    let bytes = 0;
    for (const group of manifest ?? []) {
      for (const rel of group.paths) {
        const weightsPath = join(dir, rel);
        let buf: Buffer;
        try {
          buf = await fsp.readFile(weightsPath);
        } catch {
          throw new Error(`${weightsPath}: weights file named in model.json is missing`);
        }
        buffers.push(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
        bytes += buf.byteLength;
      }
      specs.push(...group.weights);
    }
    const expected = expectedWeightBytes(specs);
    if (expected !== undefined && expected !== bytes) {
      throw new Error(`${join(dir, manifest?.[0]?.paths[0] ?? WEIGHTS_BIN)}: weights hold ${bytes} bytes, model.json expects ${expected}`);
    }
    return [specs, tf.io.CompositeArrayBuffer.join(buffers)];
  });
  try {
    return await tf.loadLayersModel({ load: async () => artifacts });
  } catch (err) {
    throw new Error(`${file}: cannot build the model: ${messageOf(err)}`);
  }
}

/** `bytes` as UTF-8 text; bytes that are not UTF-8 are an error saying so (never quoting them). */
function decodeText(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error('not UTF-8 text (binary data)');
  }
}

/** `text` with control characters and replacement characters shown as `?`, for messages that quote a file. */
function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '?');
}

/** Sum of the byte sizes of `specs`, or undefined when a spec is quantized or of unknown type. */
function expectedWeightBytes(specs: tf.io.WeightsManifestEntry[]): number | undefined {
  let total = 0;
  for (const s of specs) {
    const per = BYTES_PER_DTYPE[s.dtype];
    if (s.quantization !== undefined || per === undefined) return undefined;
    total += s.shape.reduce((a, b) => a * b, 1) * per;
  }
  return total;
}

/** Resolves `path` (a model folder or its `model.json`) to both, with one-line errors when it is not a model. */
export async function locateModelJson(path: string): Promise<{ dir: string; file: string }> {
  const abs = resolve(path);
  let stat;
  try {
    stat = await fsp.stat(abs);
  } catch {
    throw new Error(`${path}: no such model folder`);
  }
  if (stat.isFile()) return { dir: resolve(abs, '..'), file: abs };
  const file = join(abs, MODEL_JSON);
  if (!(await exists(file))) {
    // A training run folder keeps its models under checkpoints/, where its pointer files name the latest and the best.
    if (await exists(join(abs, CHECKPOINTS_DIR))) {
      const pointer = (name: string): string => join(path, CHECKPOINTS_DIR, name);
      throw new Error(
        (await exists(join(abs, CHECKPOINTS_DIR, LATEST_FILE)))
          ? `${path}: a training run folder, not a saved model: load ${pointer(LATEST_FILE)} or ${pointer(BEST_FILE)} (its latest or its best checkpoint)`
          : `${path}: a training run folder with no complete checkpoint yet, not a saved model`,
      );
    }
    throw new Error(`${path}: no ${MODEL_JSON} in this folder (not a saved model)`);
  }
  return { dir: abs, file };
}

/** The metadata this project stores with a model (class names, input shape, architecture), or `{}`. */
export function modelMetadata(model: tf.LayersModel): ModelMetadata {
  const meta = model.getUserDefinedMetadata() as ModelMetadata | undefined;
  return meta ?? {};
}

/** The model's input image shape `[height, width, channels]`. Throws if the model does not take one image tensor. */
export function modelInputShape(model: tf.LayersModel): [number, number, number] {
  const shape = model.inputs[0]?.shape;
  if (model.inputs.length !== 1 || shape === undefined || shape.length !== 4 || shape.slice(1).some((d) => d == null)) {
    throw new Error(`model ${model.name} does not take one [batch, height, width, channels] image input`);
  }
  return shape.slice(1) as [number, number, number];
}

/** The number of classes: the size of the model's output. */
export function modelClassCount(model: tf.LayersModel): number {
  const shape = model.outputs[0]?.shape;
  const n = shape?.[shape.length - 1];
  if (model.outputs.length !== 1 || n == null) throw new Error(`model ${model.name} does not have one class-score output`);
  return n;
}

/** Formats a shape as `64x64x3`. */
export function formatImageShape(shape: readonly number[]): string {
  return shape.join('x');
}
