/**
 * Training, evaluation, prediction and reports.
 *
 * - {@link train}: a custom training loop over streamed batches, with per-epoch validation, atomic checkpoints
 *   (`--resume` continues them), CSV/JSON logs, early stopping, NaN detection and an end report.
 * - {@link evaluate}: loss, accuracy, per-class precision/recall and confusion matrix, in inference mode.
 * - {@link predict}: top-k classes of image files.
 * - {@link saveModel} / {@link loadModel}: the standard TensorFlow.js `model.json` + `weights.bin` layout on disk.
 * - {@link demo}: the Fashion-MNIST demo.
 * - {@link initWeightsFrom}: a model's start from another one's weights, layer by layer (fine-tuning).
 */
export * from './train.js';
export * from './batchnorm.js';
export * from './evaluate.js';
export * from './predict.js';
export * from './inference.js';
export * from './demo.js';
export * from './report.js';
export * from './mistakes.js';
export * from './image_grid.js';
export * from './metrics.js';
export * from './log.js';
export * from './progress.js';
export * from './init_weights.js';
export {
  saveModel,
  loadModel,
  modelMetadata,
  modelInputShape,
  modelClassCount,
  formatImageShape,
  MODEL_JSON,
  WEIGHTS_BIN,
  type ModelMetadata,
} from './io.js';
export {
  type EpochRecord,
  type BestRecord,
  type TrainState,
  type CheckpointContent,
  saveCheckpoint,
  loadCheckpoint,
  latestCheckpoint,
  latestCheckpointSync,
  bestCheckpoint,
  readState,
  resolveModelDir,
  type CheckpointChoice,
  checkpointName,
  CHECKPOINTS_DIR,
  REPORT_DIR,
  LATEST_FILE,
  BEST_FILE,
  STATE_JSON,
} from './checkpoint.js';
export { type LrSchedule, LR_SCHEDULES, learningRateAt, setLearningRate } from './schedule.js';
export { checkMomentum, createOptimizer, restoreOptimizer, writeOptimizerFiles, OPTIMIZER_NAMES, type MomentumOptions, type OptimizerName } from './optimizer.js';
export { TargetInUseError } from './fsutil.js';
