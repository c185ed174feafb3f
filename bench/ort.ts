/**
 * Measuring child for the ONNX Runtime side of the ResNet-50 benchmark (started by `bench/resnet50.ts`).
 *
 * Runs the ONNX export of the PyTorch twin (`bench/torch_resnet50.py export`: eval mode, NCHW float32 input,
 * softmax output) with onnxruntime-node's CPU provider, all graph optimizations, and intra-op threads = cores;
 * reports the median ms per inference batch and the peak RSS.
 */
import { availableParallelism } from 'node:os';
import ort from 'onnxruntime-node';
import { emitResult, measure, parseChildArgs, peakRssMiB, warmUp } from './common.js';

function log(message: string): void {
  process.stderr.write(`[ort] ${message}\n`);
}

async function main(): Promise<number> {
  const o = parseChildArgs(process.argv.slice(2));
  if (o.mode !== 'infer') throw new Error('the ONNX Runtime side measures inference only (--mode infer)');
  if (o.onnx === undefined) throw new Error('--onnx PATH is required');
  const threads = o.threads ?? availableParallelism();

  const session = await ort.InferenceSession.create(o.onnx, {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
  });
  const version = (ort.env as { versions?: { common?: string } }).versions?.common ?? 'unknown';
  log(`onnxruntime-node ${version}, ${threads} intra-op threads, model ${o.onnx}`);

  // One fixed batch of pseudo-random values in [-1, 1) (NCHW, as exported).
  const n = o.batch * 3 * o.size * o.size;
  const data = new Float32Array(n);
  let state = 12345;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    data[i] = state / 2 ** 31 - 1;
  }
  const input = new ort.Tensor('float32', data, [o.batch, 3, o.size, o.size]);
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];

  const step = async (): Promise<void> => {
    const out = await session.run({ [inputName]: input });
    const probabilities = out[outputName];
    if (probabilities.dims[0] !== o.batch || probabilities.dims[1] !== o.classes) {
      throw new Error(`unexpected output shape [${probabilities.dims.join(', ')}]`);
    }
  };
  await warmUp('inference', step, o.warmup, log);
  const { medianMs, timesMs } = await measure('inference', step, o.steps, log);
  await session.release();

  emitResult({
    side: 'ort',
    mode: 'infer',
    onnxruntime: version,
    threads,
    batch: o.batch,
    medianMs,
    timesMs,
    peakRssMiB: peakRssMiB(),
  });
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    log(`error: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
