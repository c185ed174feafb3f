// Loads a model saved by resnet-ts (a folder with model.json + weights.bin, e.g. `resnet convert --out my-model`
// or a run's checkpoints/epoch-NNNN/) with nothing but @tensorflow/tfjs in Node, and classifies one image given as
// raw numbers. In Node, plain tfjs has no `file://` loader (that comes with @tensorflow/tfjs-node, which needs
// libtensorflow), so the files are read here and handed to tfjs as they are, through tf.io.fromMemory. In a
// browser, `tf.loadLayersModel('https://…/model.json')` does all of this by itself.
//
//   node examples/load-with-plain-tfjs.mjs my-model            prints the class probabilities of a grey image
//
// A model whose metadata names its classes (every model resnet-ts saves after training) prints them by name.
// Models folded with foldBatchNorm(model) hold this library's Conv2DResidual layer and need resnet-ts to load;
// foldBatchNorm(model, { residuals: false }) gives one of standard layers only.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import * as tf from '@tensorflow/tfjs';

const dir = process.argv[2];
if (dir === undefined) {
  console.error('usage: node load-with-plain-tfjs.mjs <model folder>');
  process.exit(2);
}

const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
const specs = json.weightsManifest.flatMap((group) => group.weights);
const parts = await Promise.all(json.weightsManifest.flatMap((group) => group.paths).map((p) => readFile(join(dir, p))));
const bytes = Buffer.concat(parts);
const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);

const model = await tf.loadLayersModel(
  tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: specs, weightData, userDefinedMetadata: json.userDefinedMetadata }),
);
const [, height, width, channels] = model.inputs[0].shape;
const image = tf.fill([1, height, width, channels], 0.5); // stand-in for a real image scaled to [0, 1]
const probabilities = await model.predict(image).data();
const names = model.getUserDefinedMetadata()?.classes ?? [...probabilities.keys()].map(String);
for (const [i, p] of probabilities.entries()) console.log(`${names[i]}\t${p.toFixed(6)}`);
