/**
 * Residual networks: the spec's identity and convolutional blocks, ResNet-50, and the rest of the family
 * (ResNet-18, -34, -101, -152), as standard TensorFlow.js Layers models; plus a Keras-style summary and a Graphviz
 * drawing of any functional model; and BatchNorm folding (with conv + residual fusion) for inference.
 */
export * from './blocks.js';
export * from './resnet.js';
export * from './graph.js';
export * from './summary.js';
export * from './plot.js';
export * from './fold.js';
export * from './conv_residual.js';
export * from './compiled.js';
export * from './compiled_training.js';
