/**
 * resnet-ts: residual networks for TensorFlow.js. This is the library's public API, as the README's "The library"
 * section documents it; every name is listed here on purpose (test/api.test.ts holds the list). The CLI and the
 * tests import the module files (`src/<module>/index.ts`) for the rest.
 *
 * - Model: the spec's identity and convolutional blocks, ResNet-50 and the rest of the family (`buildResNet`), a
 *   Keras-style summary and a drawing of the layer graph.
 * - Backend: choosing the TensorFlow.js backend, the native oneDNN one when its addon is built.
 * - Data: SIGNS HDF5, image folders, IDX files and CIFAR binaries, as batched, shuffled tensors; image files as a tensor.
 * - Training: training with checkpoints (and a reporter that keeps it quiet), evaluation, prediction; the tfjs model
 *   format on disk; the errors they throw that callers may want to tell apart; the compiled training step for a loop
 *   of one's own.
 * - Model files: Keras 2 HDF5 (read and write).
 * - Inference: BatchNorm folding (and what it folded), with conv + residual fusion and a compiled executor.
 */

// ---- Model ----
export { identityBlock, convolutionalBlock, ResNet50, buildResNet, formatSummary, renderModel } from './model/index.js';
export type { ArchName, BottleneckFilters, DotOptions, PlotFormat, ResNetOptions } from './model/index.js';

// ---- Backend ----
export { initBackend, nativeBackendAvailable, onednnInfo, BackendOnednn } from './backend/index.js';
export type { BackendChoice, NativeInfo, OnednnMemoryInfo } from './backend/index.js';

// ---- Data ----
export { openDataset, loadImages, DataError } from './data/index.js';
export type { AugmentOptions, Batch, BatchOptions, DataPart, Dataset, OpenOptions } from './data/index.js';

// ---- Training, evaluation, prediction, the tfjs model format ----
export { train, evaluate, predict, predictEach, writePredictionSheet, saveModel, loadModel, initWeightsFrom, silentReporter } from './train/index.js';
export { TrainingDivergedError, RunFolderInUseError, TargetInUseError } from './train/index.js';
export { CompiledTrainer, compileTrainingStep } from './model/index.js';
export type { CompiledTrainingStep, TrainingStepResult } from './model/index.js';
export type {
  BestRecord,
  CheckpointChoice,
  ClassMetrics,
  ClassScore,
  EpochRecord,
  EvaluateOptions,
  EvaluationProgress,
  EvaluationResult,
  ImageFailure,
  InitWeightsResult,
  LrSchedule,
  Mistake,
  ModelMetadata,
  OptimizerName,
  Prediction,
  PredictOptions,
  PredictOutcome,
  ProgressReporter,
  RunState,
  TrainOptions,
  TrainResult,
  TrainSegment,
  TrainState,
} from './train/index.js';

// ---- Keras 2 HDF5 model files ----
export { saveKerasH5, loadKerasH5, saveKerasH5Weights, loadKerasH5Weights } from './io/keras_h5.js';
export type { SaveKerasH5Options } from './io/keras_h5.js';

// ---- Inference ----
export { foldBatchNorm, foldSummary, Conv2DResidual, InferenceModel, compileForInference } from './model/index.js';
export type { CompiledModel, FoldOptions, FoldSummary } from './model/index.js';
