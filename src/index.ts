/**
 * resnet-ts: residual networks for TensorFlow.js.
 *
 * - `model`: the spec's identity and convolutional blocks, ResNet-50 and the rest of the family.
 * - `backend`: the native oneDNN TensorFlow.js backend, and choosing the fastest one available.
 * - `data`: SIGNS HDF5, image folders and IDX files, as batched, shuffled tensors.
 * - `train`: training with checkpoints, evaluation, prediction and reports.
 * - `io`: Keras 2 HDF5 model files (read and write).
 */
export * from './model/index.js';
export * from './backend/index.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './io/keras_h5.js';
