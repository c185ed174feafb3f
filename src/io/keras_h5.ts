/**
 * Keras HDF5 model files (`model.save('x.h5')` / `model.save_weights('x.h5')` of Keras 2, i.e. tf.keras 2.x), read and
 * written with h5wasm.
 *
 * Layout of a whole-model file, as tf.keras 2.x writes it through h5py 3:
 *
 * ```
 * /                       attrs: keras_version (str), backend (str), model_config (JSON, bytes)
 *                                [training_config (JSON, bytes)], resnet_metadata (JSON, str; this project's own)
 * /model_weights          attrs: layer_names (bytes[]), backend (bytes), keras_version (bytes)
 * /model_weights/<layer>  attrs: weight_names (bytes[], e.g. conv1/kernel:0, conv1/bias:0; empty if none)
 * /model_weights/<layer>/<layer>/kernel:0    float32 dataset, Keras's shape (HWIO for a Conv2D kernel)
 * /model_weights/top_level_model_weights     attrs: weight_names (empty: a functional model has no weights of its own)
 * ```
 *
 * A weights-only file (`save_weights`) has the `model_weights` content (layer_names, groups) at its root.
 *
 * String attributes are stored exactly as h5py 3 stores the Python values Keras hands it: `str` as a variable-length
 * UTF-8 string, `bytes` and lists of `bytes` as variable-length ASCII strings, and an empty list as an empty float64
 * array. Only when a list of names exceeds HDF5's 64512-byte object header limit does Keras split it into numpy
 * fixed-length string arrays `<name>0`, `<name>1`, …; those are written as fixed-length (NUL-terminated) strings, the
 * closest kind h5wasm can create to numpy's NUL-padded ones. Both readers (Keras and {@link loadKerasH5}) accept every
 * one of these forms.
 *
 * The model configuration is TensorFlow.js's own `model.toJSON()`: the Keras JSON format (class names such as
 * `Conv2D`, snake_case keys), with the functional model's class named `Functional` as tf.keras 2.4+ names it. Weight
 * shapes in TensorFlow.js and Keras are the same (`[kh, kw, in, out]` conv kernels, `[in, out]` dense kernels).
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as tf from '@tensorflow/tfjs';
import h5wasm, { type Dataset as H5Dataset, type Group as H5Group } from 'h5wasm/node';
import { HDF5_SIGNATURE, checkHdf5Header } from '../data/h5.js';
import { messageOf, oneLine } from '../data/errors.js';
import { type FolderError, TEMP_PREFIX, TargetInUseError, fsErrorReason, fsyncDir, makeFolder, readHead, removeCreatedFolders } from '../train/fsutil.js';

/** The Keras version written into files: the last tf.keras 2 release line. */
export const KERAS_VERSION = '2.15.0';
/** The backend name written into files, as tf.keras writes it. */
export const KERAS_BACKEND = 'tensorflow';
/** Root attribute holding this project's metadata (class names, input shape, …) as JSON. Keras ignores it. */
export const RESNET_METADATA_ATTR = 'resnet_metadata';
/** Largest attribute Keras writes in one piece (bytes); longer name lists are split into numbered chunks. */
export const HDF5_OBJECT_HEADER_LIMIT = 64512;

/** Options of {@link saveKerasH5}. */
export interface SaveKerasH5Options {
  /**
   * JSON-serialisable metadata stored in the root attribute `resnet_metadata` (e.g. `{ classes: [...] }`). Defaults to
   * the model's user-defined metadata, when it has any.
   */
  metadata?: object;
  /** Also store `training_config` (Keras's compile arguments, JSON). Written only when given. */
  trainingConfig?: object;
}

/** One weight as Keras names and stores it. */
interface KerasWeight {
  /** Keras's variable name, `<layer>/<weight>:0`. */
  name: string;
  variable: tf.LayerVariable;
}

/** The weights of `layer` in Keras's order (trainable, then non-trainable), with Keras's names. */
function kerasWeights(layer: tf.layers.Layer): KerasWeight[] {
  return [...layer.trainableWeights, ...layer.nonTrainableWeights].map((variable) => {
    // tfjs names a weight `<layer>/<weight>` (plus `_1`, … when the name was taken before); Keras 2 `<layer>/<weight>:0`.
    const short = variable.originalName.split('/').pop() ?? variable.originalName;
    return { name: `${layer.name}/${short}:0`, variable };
  });
}

/** The model's Keras `{class_name, config}` JSON, from TensorFlow.js's (Keras-format) serialisation. */
export function kerasModelConfig(model: tf.LayersModel): { class_name: string; config: unknown } {
  const json = model.toJSON(null, false) as { class_name: string; config: unknown };
  const className = json.class_name === 'Model' ? 'Functional' : json.class_name;
  return { class_name: className, config: json.config };
}

/** A temporary path beside `path` that the project's stale-temp cleanup recognises. */
function tempPathFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${basename(path)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/**
 * Writes an HDF5 file atomically: `fill` writes into a fresh h5wasm file at a temporary path beside `path`, which is
 * closed, flushed to disk and renamed over `path`. On any error the temporary file is removed and `path` is untouched.
 *
 * The folder and the temporary file are created with Node first, so that a destination that cannot be written (a
 * missing or read-only folder, /proc, a parent that is a file) fails there with one line naming `path`, before the
 * HDF5 library is involved (which would print its error stack to stderr and carry on with a bad file id).
 */
async function writeH5Atomic(path: string, fill: (root: H5Group) => void): Promise<void> {
  await h5wasm.ready;
  const target = resolve(path);
  await checkH5Replaceable(path);
  const fail = (err: unknown): Error => new Error(`${path}: cannot write the Keras HDF5 file: ${fsErrorReason(err)}`);
  const folder = dirname(target);
  // The folders made for it go again if the write fails.
  const created = await makeFolder(folder).catch((err: FolderError) => {
    throw new Error(`${path}: cannot write the Keras HDF5 file: cannot create the folder ${folder}: ${err.reason}`);
  });
  const tmp = tempPathFor(target);
  try {
    await (await fsp.open(tmp, 'wx')).close();
  } catch (err) {
    await removeCreatedFolders(created);
    throw fail(err);
  }
  try {
    const file = new h5wasm.File(tmp, 'w');
    if (file.file_id < 0n) throw new Error('the HDF5 library could not create the file');
    try {
      fill(file);
    } finally {
      file.close();
    }
    const fh = await fsp.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    await removeCreatedFolders(created);
    throw fail(err);
  }
  await fsyncDir(folder);
}

/**
 * Checks that `path` may be written over: it does not exist, or it is a regular file that starts with the HDF5
 * signature (a model file written over by a newer one, as saveModel replaces a model folder). A folder, a symbolic
 * link or any other file is someone else's: {@link TargetInUseError}, and nothing is changed.
 */
async function checkH5Replaceable(path: string): Promise<void> {
  let stat;
  try {
    stat = await fsp.lstat(path);
  } catch {
    return; // nothing there, or a path that cannot be reached: the write reports that in its own words
  }
  if (stat.isSymbolicLink()) throw new TargetInUseError(path, 'is a symbolic link; not replaced');
  if (stat.isDirectory()) throw new TargetInUseError(path, 'is a folder, not a file');
  if (!stat.isFile()) throw new TargetInUseError(path, 'is not a regular file; not replaced');
  const head = await readHead(path, HDF5_SIGNATURE.length);
  if (!head.equals(HDF5_SIGNATURE)) throw new TargetInUseError(path, 'exists and is not an HDF5 file; not replaced');
}

/**
 * Stores a list of names as Keras's `save_attributes_to_hdf5_group` does: one attribute (variable-length strings,
 * as h5py 3 writes a list of bytes; an empty float64 array for an empty list), or numbered fixed-length chunks when
 * the list would exceed {@link HDF5_OBJECT_HEADER_LIMIT} as a numpy array.
 */
function writeNameList(group: H5Group, attr: string, names: string[]): void {
  if (names.length === 0) {
    group.create_attribute(attr, new Float64Array(0), [0], '<d');
    return;
  }
  const itemBytes = (s: string) => Buffer.byteLength(s, 'utf8');
  const width = Math.max(...names.map(itemBytes));
  if (width > HDF5_OBJECT_HEADER_LIMIT) throw new Error(`a name is longer than ${HDF5_OBJECT_HEADER_LIMIT} bytes`);
  let chunks = 1;
  const split = (n: number): string[][] => {
    // numpy.array_split: the first (len % n) parts get one extra element.
    const parts: string[][] = [];
    const base = Math.floor(names.length / n);
    const extra = names.length % n;
    let at = 0;
    for (let i = 0; i < n; i++) {
      const size = base + (i < extra ? 1 : 0);
      parts.push(names.slice(at, at + size));
      at += size;
    }
    return parts;
  };
  let parts = split(1);
  while (parts.some((p) => p.length * width > HDF5_OBJECT_HEADER_LIMIT)) parts = split(++chunks);
  if (chunks === 1) {
    group.create_attribute(attr, names, [names.length], 'A');
    return;
  }
  parts.forEach((part, i) => group.create_attribute(`${attr}${i}`, part, [part.length], `A${width + 1}`));
}

/** Writes the `save_weights_to_hdf5_group` content (layer_names, backend, keras_version, one group per layer). */
function writeWeightsGroup(group: H5Group, model: tf.LayersModel): void {
  writeNameList(
    group,
    'layer_names',
    model.layers.map((l) => l.name),
  );
  group.create_attribute('backend', KERAS_BACKEND, null, 'A');
  group.create_attribute('keras_version', KERAS_VERSION, null, 'A');
  // Keras sorts the groups by name so that no group name is created after one it is a prefix of.
  const sorted = [...model.layers].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const layer of sorted) {
    const g = group.create_group(layer.name);
    const weights = kerasWeights(layer);
    writeNameList(
      g,
      'weight_names',
      weights.map((w) => w.name),
    );
    for (const w of weights) {
      const values = w.variable.read().dataSync();
      if (!(values instanceof Float32Array)) throw new Error(`weight ${w.name} is ${w.variable.dtype}, not float32`);
      // `<layer>/<weight>:0` inside the layer's group: create the intermediate groups, as h5py does.
      const parts = w.name.split('/');
      let parent = g;
      for (const p of parts.slice(0, -1)) {
        const existing = parent.get(p);
        parent = existing instanceof h5wasm.Group ? existing : parent.create_group(p);
      }
      parent.create_dataset({ name: parts[parts.length - 1], data: values, shape: w.variable.shape as number[], dtype: '<f' });
    }
  }
  // tf.keras 2.13+ also stores the model's own (non-layer) weights; a functional model has none.
  writeNameList(group.create_group('top_level_model_weights'), 'weight_names', []);
}

/**
 * Saves `model` as a Keras 2 HDF5 model file (what `tf.keras.models.load_model(path)` reads): the architecture in
 * `model_config`, the weights under `model_weights`, and `opts.metadata` (default: the model's user-defined metadata)
 * as JSON in the root attribute `resnet_metadata`. The file appears atomically (temporary file, then rename). An
 * existing HDF5 file at `path` is replaced; anything else there (a folder, a link, a file that is not HDF5) makes it
 * throw {@link TargetInUseError} and change nothing.
 */
export async function saveKerasH5(model: tf.LayersModel, path: string, opts: SaveKerasH5Options = {}): Promise<void> {
  const config = JSON.stringify(kerasModelConfig(model));
  const metadata = opts.metadata ?? model.getUserDefinedMetadata();
  await writeH5Atomic(path, (root) => {
    // h5py 3 stores Python str as variable-length UTF-8 and bytes (json.dumps(...).encode()) as variable-length ASCII.
    root.create_attribute('keras_version', KERAS_VERSION, null, 'S');
    root.create_attribute('backend', KERAS_BACKEND, null, 'S');
    root.create_attribute('model_config', config, null, 'A');
    if (opts.trainingConfig !== undefined) root.create_attribute('training_config', JSON.stringify(opts.trainingConfig), null, 'A');
    if (metadata !== undefined) root.create_attribute(RESNET_METADATA_ATTR, JSON.stringify(metadata), null, 'S');
    writeWeightsGroup(root.create_group('model_weights'), model);
  });
}

/**
 * Saves only the weights of `model` in Keras's `save_weights` HDF5 layout (`layer_names` and the layer groups at the
 * root), atomically, replacing only an HDF5 file (as {@link saveKerasH5}). {@link loadKerasH5Weights} and Keras's
 * `model.load_weights(path)` read it.
 */
export async function saveKerasH5Weights(model: tf.LayersModel, path: string): Promise<void> {
  await writeH5Atomic(path, (root) => writeWeightsGroup(root, model));
}

/** An opened Keras HDF5 file; `close` must be called. */
interface OpenedH5 {
  file: InstanceType<typeof h5wasm.File>;
  close(): void;
}

/** Opens `path` for reading after checking that it exists and is an HDF5 file, with one-line errors. */
async function openH5(path: string): Promise<OpenedH5> {
  let stat;
  try {
    stat = await fsp.stat(path);
  } catch {
    throw new Error(`${path}: no such file`);
  }
  if (!stat.isFile()) throw new Error(`${path}: not a file`);
  try {
    await checkHdf5Header(path);
  } catch (err) {
    const msg = messageOf(err);
    throw new Error(msg.startsWith(path) ? msg : `${path}: ${msg}`);
  }
  await h5wasm.ready;
  let file;
  try {
    file = new h5wasm.File(resolve(path), 'r');
  } catch (err) {
    throw new Error(`${path}: cannot open the HDF5 file: ${messageOf(err)}`);
  }
  return { file, close: () => file.close() };
}

/** A string attribute of `obj`, or undefined when it is absent. */
function stringAttr(obj: H5Group, name: string): string | undefined {
  if (!Object.prototype.hasOwnProperty.call(obj.attrs, name)) return undefined;
  const v = obj.get_attribute(name, false);
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.length === 1 && typeof v[0] === 'string') return v[0];
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return undefined;
}

/** Reads a name list as Keras's `load_attributes_from_hdf5_group` does (whole, or from numbered chunks). */
function readNameList(obj: H5Group, name: string): string[] {
  const attrs = obj.attrs;
  const asList = (v: unknown): string[] => {
    if (typeof v === 'string') return [v];
    if (Array.isArray(v)) return v.map((x) => String(x));
    return []; // an empty list is stored as an empty float64 array
  };
  if (Object.prototype.hasOwnProperty.call(attrs, name)) return asList(obj.get_attribute(name, false));
  const out: string[] = [];
  for (let i = 0; Object.prototype.hasOwnProperty.call(attrs, `${name}${i}`); i++) out.push(...asList(obj.get_attribute(`${name}${i}`, false)));
  return out;
}

/** The values to assign to one layer, validated against the model. */
interface LayerAssignment {
  layer: tf.layers.Layer;
  values: Float32Array[];
}

/** One layer's weights as a Keras HDF5 file holds them, in Keras's order (trainable, then non-trainable). */
export interface StoredLayerWeights {
  /** The weights' names in the file (`conv1/kernel:0`). */
  names: string[];
  shapes: number[][];
  values: Float32Array[];
}

/**
 * Reads the weights of every layer under `group` (a `model_weights` group or a weights-only file's root) in the order
 * of its `layer_names`, layers without weights left out. Throws a one-line error naming `path` for a file that
 * does not hold what its lists say.
 */
function readLayerWeights(group: H5Group, path: string): Map<string, StoredLayerWeights> {
  const layerNames = readNameList(group, 'layer_names');
  if (layerNames.length === 0) throw new Error(`${path}: no layer_names attribute (not a Keras weights file)`);
  const layers = new Map<string, StoredLayerWeights>();
  for (const name of layerNames) {
    const g = group.get(name);
    if (!(g instanceof h5wasm.Group)) throw new Error(`${path}: layer_names lists '${name}' but the file has no group for it`);
    const names = readNameList(g, 'weight_names');
    if (names.length === 0) continue;
    const shapes: number[][] = [];
    const values = names.map((wn) => {
      const d = g.get(wn);
      if (!(d instanceof h5wasm.Dataset)) throw new Error(`${path}: weight '${wn}' of layer '${name}' is missing`);
      shapes.push(((d as H5Dataset).shape ?? []).map(Number));
      const v = (d as H5Dataset).value;
      if (v instanceof Float32Array) return v;
      if (v instanceof Float64Array) return Float32Array.from(v);
      throw new Error(`${path}: weight '${wn}' is not a float32 or float64 dataset`);
    });
    layers.set(name, { names, shapes, values });
  }
  return layers;
}

/** The group holding a Keras HDF5 file's weights: the root of a weights-only file, `model_weights` of a model file. */
function weightsGroup(root: InstanceType<typeof h5wasm.File>, path: string): H5Group {
  const group = Object.prototype.hasOwnProperty.call(root.attrs, 'layer_names') ? root : root.get('model_weights');
  if (!(group instanceof h5wasm.Group)) throw new Error(`${path}: neither layer_names nor a model_weights group (not a Keras weights file)`);
  return group;
}

/**
 * Reads the weights under `group` and matches them to the model's layers by layer name, weight by weight in Keras's
 * order, checking counts and shapes. Throws a one-line error naming `path` on any mismatch; assigns nothing unless
 * everything matches.
 */
function readWeightsInto(model: tf.LayersModel, group: H5Group, path: string): void {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const assignments: LayerAssignment[] = [];
  for (const [name, stored] of readLayerWeights(group, path)) {
    const layer = byName.get(name);
    if (layer === undefined) throw new Error(`${path}: layer '${name}' in the file is not in the model`);
    const modelWeights = kerasWeights(layer);
    if (modelWeights.length !== stored.names.length) {
      throw new Error(`${path}: layer '${name}' has ${stored.names.length} weights in the file, the model's has ${modelWeights.length}`);
    }
    stored.shapes.forEach((shape, i) => {
      const expected = modelWeights[i].variable.shape as number[];
      if (shape.length !== expected.length || shape.some((d, k) => d !== expected[k])) {
        throw new Error(`${path}: weight '${stored.names[i]}' has shape [${shape.join(', ')}] in the file, the model expects [${expected.join(', ')}]`);
      }
    });
    assignments.push({ layer, values: stored.values });
  }
  const seen = new Set(assignments.map((a) => a.layer.name));
  const missing = model.layers.filter((l) => l.weights.length > 0 && !seen.has(l.name));
  if (missing.length > 0) {
    throw new Error(`${path}: the model's layer '${missing[0].name}' has no weights in the file${missing.length > 1 ? ` (nor ${missing.length - 1} more)` : ''}`);
  }
  for (const { layer, values } of assignments) {
    const tensors = values.map((v, i) => tf.tensor(v, layer.weights[i].shape as number[], 'float32'));
    // Keras's order is trainable then non-trainable, which is also tfjs's `layer.weights` order.
    layer.setWeights(tensors);
    tf.dispose(tensors);
  }
}

/**
 * The weights of every layer of a Keras HDF5 weights file (`save_weights`) or model file, by layer name, in Keras's
 * order, without building a model: for taking some layers' weights (fine-tuning). One-line errors naming the file.
 */
export async function readKerasH5LayerWeights(path: string): Promise<Map<string, StoredLayerWeights>> {
  const h5 = await openH5(path);
  try {
    return readLayerWeights(weightsGroup(h5.file, path), path);
  } catch (err) {
    throw new Error(oneLine(messageOf(err)));
  } finally {
    h5.close();
  }
}

/**
 * Loads a Keras HDF5 model file (written by Keras 2 / tf.keras `model.save('x.h5')` or by {@link saveKerasH5}): the
 * architecture from `model_config`, then the weights from `model_weights` by layer name. The project's metadata
 * (`resnet_metadata`), when present, becomes the model's user-defined metadata. Every problem is a one-line error
 * naming the file: missing, not HDF5, no `model_config`, an unknown layer, a layer or weight that does not match.
 */
export async function loadKerasH5(path: string): Promise<tf.LayersModel> {
  const h5 = await openH5(path);
  try {
    const root = h5.file;
    const configText = stringAttr(root, 'model_config');
    if (configText === undefined) {
      const hint = Object.prototype.hasOwnProperty.call(root.attrs, 'layer_names') ? ' (a weights-only file: load it into a model with loadKerasH5Weights)' : '';
      throw new Error(`${path}: no model_config attribute, not a Keras model file${hint}`);
    }
    let config: unknown;
    try {
      config = JSON.parse(configText);
    } catch (err) {
      throw new Error(`${path}: model_config is not valid JSON: ${messageOf(err)}`);
    }
    let model: tf.LayersModel;
    try {
      model = await tf.models.modelFromJSON(config as Parameters<typeof tf.models.modelFromJSON>[0]);
    } catch (err) {
      throw new Error(`${path}: cannot build the model from model_config: ${messageOf(err)}`);
    }
    try {
      const weights = root.get('model_weights');
      if (!(weights instanceof h5wasm.Group)) throw new Error(`${path}: no model_weights group`);
      readWeightsInto(model, weights, path);
      const meta = stringAttr(root, RESNET_METADATA_ATTR);
      if (meta !== undefined) {
        try {
          model.setUserDefinedMetadata(JSON.parse(meta) as object);
        } catch (err) {
          throw new Error(`${path}: ${RESNET_METADATA_ATTR} is not valid JSON: ${messageOf(err)}`);
        }
      }
    } catch (err) {
      model.dispose();
      throw err;
    }
    return model;
  } catch (err) {
    throw new Error(oneLine(messageOf(err)));
  } finally {
    h5.close();
  }
}

/**
 * Loads weights from a Keras HDF5 file into `model`, matching layers by name and each layer's weights in Keras's
 * order. Accepts both a weights-only file (`save_weights`: `layer_names` at the root) and a whole-model file
 * (`model_weights` group). The model is changed only when every layer and shape matches.
 */
export async function loadKerasH5Weights(model: tf.LayersModel, path: string): Promise<void> {
  const h5 = await openH5(path);
  try {
    readWeightsInto(model, weightsGroup(h5.file, path), path);
  } finally {
    h5.close();
  }
}

/** Whether `path` names a Keras HDF5 file by its extension: `.h5` or `.hdf5` (the two Keras itself saves as HDF5). */
export function isKerasH5Path(path: string): boolean {
  return /\.(h5|hdf5)$/i.test(path);
}
