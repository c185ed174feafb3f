/**
 * The package's public API: the entry that package.json's `main` names exports exactly the names listed here (the
 * library API the README documents), so the public surface changes only on purpose: a change to src/index.ts must
 * change this list too. The types are checked at compile time: the `import type` below fails to compile if the
 * entry stops exporting one of them.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';

import type {
  ArchName,
  AugmentOptions,
  BackendChoice,
  Batch,
  BatchOptions,
  BestRecord,
  BottleneckFilters,
  CheckpointChoice,
  ClassMetrics,
  ClassScore,
  CompiledModel,
  DataPart,
  Dataset,
  DotOptions,
  EpochRecord,
  EvaluateOptions,
  EvaluationProgress,
  EvaluationResult,
  FoldOptions,
  FoldSummary,
  ImageFailure,
  InitWeightsResult,
  LrSchedule,
  Mistake,
  ModelMetadata,
  NativeInfo,
  OnednnMemoryInfo,
  OpenOptions,
  OptimizerName,
  PlotFormat,
  Prediction,
  PredictOptions,
  PredictOutcome,
  ProgressReporter,
  ResNetOptions,
  RunState,
  SaveKerasH5Options,
  TrainOptions,
  TrainResult,
  TrainSegment,
  TrainState,
  CompiledTrainingStep,
  TrainingStepResult,
} from '../src/index.js';
import { REPO_ROOT } from './train-fixtures.js';

/** Every type the entry exports, by name (compile-time only). */
export type PublicTypes = [ArchName, AugmentOptions, BackendChoice, Batch, BatchOptions, BestRecord, BottleneckFilters,
  CheckpointChoice, ClassMetrics, ClassScore, CompiledModel, DataPart, Dataset, DotOptions, EpochRecord,
  EvaluateOptions, EvaluationProgress, EvaluationResult, FoldOptions, FoldSummary, ImageFailure, InitWeightsResult, LrSchedule, Mistake, ModelMetadata, NativeInfo, OnednnMemoryInfo, OpenOptions,
  OptimizerName, PlotFormat, Prediction, PredictOptions, PredictOutcome, ProgressReporter, ResNetOptions, RunState, SaveKerasH5Options,
  TrainOptions, TrainResult, TrainSegment, TrainState, CompiledTrainingStep, TrainingStepResult];

/** The values the package exports, by the README's groups. */
const PUBLIC_VALUES: Record<string, { names: string[]; kind: 'function' | 'class' | 'object' }[]> = {
  model: [{ names: ['identityBlock', 'convolutionalBlock', 'ResNet50', 'buildResNet', 'formatSummary', 'renderModel'], kind: 'function' }],
  backend: [
    { names: ['initBackend', 'nativeBackendAvailable', 'onednnInfo'], kind: 'function' },
    { names: ['BackendOnednn'], kind: 'class' },
  ],
  data: [
    { names: ['openDataset', 'loadImages'], kind: 'function' },
    { names: ['DataError'], kind: 'class' },
  ],
  training: [
    { names: ['train', 'evaluate', 'predict', 'predictEach', 'writePredictionSheet', 'saveModel', 'loadModel', 'initWeightsFrom'], kind: 'function' },
    { names: ['silentReporter'], kind: 'object' },
    { names: ['TrainingDivergedError', 'RunFolderInUseError', 'TargetInUseError'], kind: 'class' },
    { names: ['compileTrainingStep'], kind: 'function' },
    { names: ['CompiledTrainer'], kind: 'class' },
  ],
  kerasFiles: [{ names: ['saveKerasH5', 'loadKerasH5', 'saveKerasH5Weights', 'loadKerasH5Weights'], kind: 'function' }],
  inference: [
    { names: ['foldBatchNorm', 'foldSummary', 'compileForInference'], kind: 'function' },
    { names: ['Conv2DResidual', 'InferenceModel'], kind: 'class' },
  ],
};

/** The package's entry module, as `import 'resnet-ts'` loads it (package.json's `main`). */
async function packageEntry(): Promise<Record<string, unknown>> {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { main: string; type?: string };
  assert.equal(pkg.type, 'module');
  return (await import(pathToFileURL(join(REPO_ROOT, pkg.main)).href)) as Record<string, unknown>;
}

test('the package exports exactly the documented library API', async () => {
  const api = await packageEntry();
  const expected = Object.values(PUBLIC_VALUES).flatMap((groups) => groups.flatMap((g) => g.names)).sort();
  assert.deepEqual(Object.keys(api).sort(), expected);
});

test('each exported value is a function, a class or an object, as listed', async () => {
  const api = await packageEntry();
  for (const groups of Object.values(PUBLIC_VALUES)) {
    for (const { names, kind } of groups) {
      for (const name of names) {
        const value = api[name];
        if (kind === 'object') {
          assert.ok(value !== null && typeof value === 'object', `${name} is an object`);
          continue;
        }
        assert.equal(typeof value, 'function', name);
        // Compiled for ES2022, a class's source text starts with `class`.
        const isClass = /^class\b/.test(Function.prototype.toString.call(value));
        assert.equal(isClass, kind === 'class', `${name} is ${isClass ? 'a class' : 'a function'}`);
      }
    }
  }
});

test("the spec's layer helpers conv2d, batchNorm and relu stay under the model module, not at the top level", async () => {
  const api = await packageEntry();
  const model = (await import('../src/model/index.js')) as Record<string, unknown>;
  for (const name of ['conv2d', 'batchNorm', 'relu']) {
    assert.equal(api[name], undefined, `top-level ${name}`);
    assert.equal(typeof model[name], 'function', `model module's ${name}`);
  }
});

test('silentReporter is a ProgressReporter that prints nothing', async () => {
  const reporter = (await packageEntry()).silentReporter as ProgressReporter;
  const written: string[] = [];
  const writes = [process.stdout, process.stderr].map((stream) => {
    const original = stream.write;
    stream.write = ((chunk: string | Uint8Array) => (written.push(String(chunk)), true)) as typeof stream.write;
    return () => (stream.write = original);
  });
  try {
    reporter.message('backend: cpu');
    reporter.start(1, 2, 3);
    reporter.step(0.5, 0.5, 100);
    reporter.end({ epoch: 1, loss: 0.5, acc: 0.5, time: 1, images_per_s: 100, lr: 0.001 });
    reporter.stop();
  } finally {
    for (const restore of writes) restore();
  }
  assert.deepEqual(written, []);
});
