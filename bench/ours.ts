/**
 * Measuring child for this project's side of the ResNet-50 benchmark (started by `bench/resnet50.ts`, one process
 * per mode so that its peak RSS is that mode's alone).
 *
 * `--mode train`: median ms per training step (Adam, categorical cross-entropy, accuracy) on one fixed random batch,
 * the step the library's train() runs: compiled on onednn (`CompiledTrainer`, src/model/compiled_training.ts), as
 * PyTorch's side runs its own training loop; `--train-step layers` measures tfjs-layers' `model.trainOnBatch`.
 * `--mode infer`: median ms per `model.predict` of that batch, on the model with its BatchNorms folded into the
 * convolutions, its ReLUs and residual additions fused (`foldBatchNorm`), as ONNX Runtime does with the ONNX export
 * it measures: like for like. The folded model's `predict` runs the compiled executor on onednn (`InferenceModel`,
 * src/model/compiled.ts), as ONNX Runtime runs its graph with its own executor. Both modes on the fastest backend,
 * `initBackend('auto')`.
 * Refuses (exit {@link EXIT_REFUSED}) to run on tfjs's plain 'cpu' backend unless `--allow-cpu`.
 */
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { CompiledTrainer, ResNet50, foldBatchNorm, foldSummary } from '../src/model/index.js';
import { EXIT_REFUSED, emitResult, measure, parseChildArgs, peakRssMiB, warmUp } from './common.js';

function log(message: string): void {
  process.stderr.write(`[ours] ${message}\n`);
}

async function main(): Promise<number> {
  const o = parseChildArgs(process.argv.slice(2));
  const backend = await initBackend('auto');
  log(`backend '${backend}', tfjs ${tf.version.tfjs}`);
  if (backend === 'cpu' && !o.allowCpu) {
    log(
      "refusing to run ResNet-50 on tfjs's plain 'cpu' backend: it is pure JavaScript, single-threaded, and takes " +
        'minutes per batch (about 14 min per training step at batch 32). The native backend is not available here ' +
        '(is it built? npm run build:native). Pass --allow-cpu to measure it anyway.',
    );
    return EXIT_REFUSED;
  }

  const model = ResNet50({ inputShape: [o.size, o.size, 3], classes: o.classes });
  const params = model.countParams();
  log(`ResNet50 ${o.size}x${o.size}x3, ${o.classes} classes, ${params.toLocaleString('en-US')} params, batch ${o.batch}`);

  // One fixed random batch: standard normal images and uniformly drawn one-hot labels.
  const x = tf.randomNormal([o.batch, o.size, o.size, 3], 0, 1, 'float32', 0);
  const labels = Array.from({ length: o.batch }, (_, i) => (i * 7919) % o.classes);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), o.classes).toFloat());

  let step: () => Promise<void>;
  let extra: Record<string, unknown> = {};
  if (o.mode === 'train') {
    // As the library's train() compiles it, and the step it runs: compiled where the model allows it (on onednn,
    // CompiledTrainer's planned native calls), else tfjs-layers' trainOnBatch; `--train-step layers` measures the latter.
    model.compile({ optimizer: tf.train.adam(1e-3), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
    const trainer = new CompiledTrainer(model);
    const compiled = o.trainStep === 'compiled' ? trainer.stepFor(o.batch) : 'not asked for (--train-step layers)';
    log(typeof compiled === 'string' ? `training step: tfjs-layers' trainOnBatch (${compiled})` : `training step: compiled, ${compiled.calls} native calls`);
    extra = { trainStep: typeof compiled === 'string' ? 'layers' : 'compiled' };
    step = async () => {
      // Both resolve once the loss has been read back: the step is done.
      if (typeof compiled === 'string') await model.trainOnBatch(x, y);
      else await trainer.trainOnBatch(x, y);
    };
  } else {
    // Inference only: fold BatchNorm into the convolutions and fuse the ReLUs, as ONNX Runtime does.
    const folded = foldBatchNorm(model);
    const summary = foldSummary(folded);
    log(
      `inference on the folded model: ${summary?.foldedBatchNorms.length ?? 0} BatchNorms folded into their convolutions, ` +
        `${summary?.fusedActivations.length ?? 0} ReLUs and ${summary?.fusedResiduals.length ?? 0} residual Add + ReLU fused ` +
        '(as ONNX Runtime does)',
    );
    extra = { folded: true, foldedBatchNorms: summary?.foldedBatchNorms.length ?? 0, fusedActivations: summary?.fusedActivations.length ?? 0, fusedResiduals: summary?.fusedResiduals.length ?? 0 };
    step = async () => {
      const p = folded.predict(x, { batchSize: o.batch }) as tf.Tensor;
      await p.data();
      p.dispose();
    };
  }

  // Warm up first (Adam's slots are created on the first step), then count tensors over the measured steps.
  const label = o.mode === 'train' ? 'train step' : 'inference';
  await warmUp(label, step, o.warmup, log);
  const tensorsBefore = tf.memory().numTensors;
  const { medianMs, timesMs } = await measure(label, step, o.steps, log);
  const tensorsAfter = tf.memory().numTensors;
  if (tensorsAfter !== tensorsBefore) log(`warning: tensor count went from ${tensorsBefore} to ${tensorsAfter}`);

  emitResult({
    side: 'ours',
    mode: o.mode,
    backend,
    tfjs: tf.version.tfjs,
    params,
    batch: o.batch,
    medianMs,
    timesMs,
    tensorsBefore,
    tensorsAfter,
    peakRssMiB: peakRssMiB(),
    ...extra,
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exit(1);
  },
);
