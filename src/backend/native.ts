/**
 * Loading the native oneDNN addon (`build/Release/onednn_backend.node`, built by `npm run build:native`).
 *
 * The addon's functions take Float32Arrays zero-copy and write results into output arrays allocated by the caller.
 * Native code keeps no reference to a JS buffer after a call returns.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Facts about the loaded oneDNN library. */
export interface NativeInfo {
  /** oneDNN version, e.g. "2.6.3". */
  version: string;
  /** Threading runtime oneDNN was built with ("omp" for OpenMP). */
  cpuRuntime: string;
  /** Instruction set oneDNN dispatches to on this CPU, e.g. "avx512_core". */
  isa: string;
  /** Threads oneDNN uses (OpenMP's maximum; set OMP_NUM_THREADS to change it). */
  maxThreads: number;
  /**
   * Whether the addon told glibc to keep freed memory for reuse (blocks up to 32 MiB, no trimming), which spares
   * each op's output the page faults of fresh memory. Off with RESNET_ONEDNN_MALLOPT=0 or user malloc tunables.
   */
  mallocTuned: boolean;
}

/**
 * The addon's functions. Conv `geometry` is 17 integers, built by `planConv2D` in `conv_util.ts`:
 * [batch, inH, inW, inC, outH, outW, outC, filterH, filterW, strideH, strideW, dilationH, dilationW,
 *  padTop, padBottom, padLeft, padRight]. Activations are NHWC, filters HWIO. `activation` is one of
 * ACTIVATION_CODES (kernel_utils.ts), `alpha` the leaky-relu slope. A `filterToken` identifies the filter's content
 * (equal tokens promise equal values; 0 = unknown) so its reordered copy can be reused.
 */
export interface OnednnAddon {
  /** Describes the loaded oneDNN. */
  info(): NativeInfo;
  /** Drops every cached primitive and scratch buffer. */
  clearCaches(): void;
  /** A token (positive integer) that no data has had in this process. */
  newToken(): number;
  /** The data with this token was disposed: frees the reordered copies made from it. */
  releaseToken(token: number): void;
  /** A new ArrayBuffer of `byteLength` bytes (contents undefined) whose memory starts on a 64-byte boundary. */
  alignedArrayBuffer(byteLength: number): ArrayBuffer;
  /** y = activation(conv(x, filter) + bias + residual), `residual` (optional) shaped like y. */
  conv2dForward(
    x: Float32Array,
    filter: Float32Array,
    bias: Float32Array | null,
    y: Float32Array,
    geometry: Int32Array,
    activation: number,
    alpha: number,
    filterToken: number,
    residual?: Float32Array | null,
  ): void;
  /** dx = the gradient of conv(x, filter) with respect to x, given dy. */
  conv2dBackwardData(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: Int32Array, filterToken: number): void;
  /** dFilter (HWIO) and optionally dBias = the gradients of conv(x, filter) + bias, given dy. */
  conv2dBackwardWeights(
    x: Float32Array,
    dy: Float32Array,
    dFilter: Float32Array,
    dBias: Float32Array | null,
    geometry: Int32Array,
  ): boolean;
  /**
   * c = activation(op(a) op(b) + bias) per batch, `dims` = [batchA, batchB, m, k, n, transposeA, transposeB]
   * (batchA and batchB equal, or one of them 1).
   */
  matmul(
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    dims: Int32Array,
    bias: Float32Array | null,
    activation: number,
    alpha: number,
  ): void;

  // ---- element-wise (eltwise.cc; op codes in eltwise_utils.ts) ----
  /**
   * out = a op b with broadcasting: `dims` is the output shape with adjacent axes merged (1 to 6 axes),
   * `aStrides`/`bStrides` each operand's stride along them (0 = broadcast; 0 or 1 along the last axis).
   */
  binary(op: number, a: Float32Array, b: Float32Array, out: Float32Array, dims: number[], aStrides: number[],
    bStrides: number[]): void;
  /** out = op(x) element-wise; `alpha` is Step's value for x <= 0. */
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  /** out = the sum of `inputs` (each of out's length), added in order in float32. */
  addN(inputs: Float32Array[], out: Float32Array): void;
  /**
   * One Adam step of one variable, bit-identical to tfjs's AdamOptimizer. `scalars`: [beta1, 1 - beta1, beta2,
   * 1 - beta2, 1 - beta1^t, 1 - beta2^t, epsilon, -learningRate], each a float32 value.
   */
  adam(value: Float32Array, m: Float32Array, v: Float32Array, gradient: Float32Array, newValue: Float32Array,
    newM: Float32Array, newV: Float32Array, scalars: number[]): void;

  // ---- reductions (reduce.cc; op codes in reduce_utils.ts) ----
  /** x seen as [outer, size, inner]; out[o, i] = op over r of x[o, r, i]. Sums accumulate in double. */
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, size: number, inner: number): void;

  // ---- batch normalization over the last axis (batchnorm.cc) ----
  /** out = offset + (x - mean) * scale / sqrt(variance + epsilon); parameters have `channels` values or 1. */
  batchNorm(x: Float32Array, mean: Float32Array, variance: Float32Array, offset: Float32Array | null,
    scale: Float32Array | null, out: Float32Array, channels: number, epsilon: number): void;
  /** The gradients of batchNorm with respect to x, mean, variance, scale and offset (parameters of `channels`). */
  batchNormGrad(dy: Float32Array, x: Float32Array, mean: Float32Array, variance: Float32Array,
    scale: Float32Array | null, dx: Float32Array, dMean: Float32Array, dVariance: Float32Array,
    dScale: Float32Array, dOffset: Float32Array, channels: number, epsilon: number): void;
  /**
   * Training mode over x seen as [rows, channels]: writes the per-channel batch mean and biased variance, and
   * y = offset + (x - mean) * scale / sqrt(variance + epsilon) (scale 1 and offset 0 where null); with `relu`, the
   * ReLU of that.
   */
  batchNormTraining(x: Float32Array, scale: Float32Array | null, offset: Float32Array | null, y: Float32Array,
    mean: Float32Array, variance: Float32Array, channels: number, epsilon: number, relu?: boolean): void;
  /**
   * The gradients of batchNormTraining with respect to x, scale and offset (the statistics being functions of x),
   * given dy and the gradients dMeanIn, dVarianceIn that reached its mean and variance outputs (null = none). With
   * `reluOutput` (the y of a forward pass with `relu`), dy is the gradient of the ReLU's output. `dxSums` (optional)
   * receives dx summed per channel (the gradient of a bias added to x).
   */
  batchNormTrainingGrad(dy: Float32Array, x: Float32Array, scale: Float32Array | null, mean: Float32Array,
    variance: Float32Array, dMeanIn: Float32Array | null, dVarianceIn: Float32Array | null, dx: Float32Array,
    dScale: Float32Array, dOffset: Float32Array, channels: number, epsilon: number, reluOutput?: Float32Array | null,
    dxSums?: Float32Array | null): void;

  // ---- NHWC pooling and padding (pooling.cc) ----
  /**
   * Max (kind 0) or average (kind 1) pooling. `geometry` is 12 integers: [batch, inH, inW, channels, outH, outW,
   * filterH, filterW, strideH, strideW, padTop, padLeft].
   */
  pool(kind: number, x: Float32Array, out: Float32Array, geometry: number[]): void;
  /** dx of max pooling: each window's dy goes to its first largest input. */
  maxPoolGrad(dy: Float32Array, x: Float32Array, dx: Float32Array, geometry: number[]): void;
  /** dx of average pooling as tfjs computes it (dy divided by the full window size). */
  avgPoolGrad(dy: Float32Array, dx: Float32Array, geometry: number[]): void;
  /** Constant padding of x (shape of 1 to 6 axes) into out. */
  pad(x: Float32Array, out: Float32Array, shape: number[], before: number[], after: number[], value: number): void;
}

const ADDON_FILE = join('build', 'Release', 'onednn_backend.node');

let loaded: OnednnAddon | null | undefined;
let loadError = '';

/** Finds the addon: $RESNET_ONEDNN_ADDON, else `build/Release/` in the nearest ancestor directory that has it. */
function findAddon(): string | null {
  const override = process.env.RESNET_ONEDNN_ADDON;
  if (override) return override;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, ADDON_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

/** The addon, or null if it is not built or cannot be loaded (see `nativeLoadError`). Loads once. */
export function loadNative(): OnednnAddon | null {
  if (loaded !== undefined) return loaded;
  const path = findAddon();
  if (path === null) {
    loadError = `${ADDON_FILE} not found (not built)`;
    loaded = null;
    return loaded;
  }
  // OpenMP threads that spin between parallel regions take the cores from V8's garbage collector and the main
  // thread, and on a shared machine from other processes: steps ran up to 7x slower under contention. So wait
  // passively unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT): on an idle machine
  // OMP_WAIT_POLICY=active is about 10% faster. libgomp reads the variable when it loads, with the addon.
  const env = process.env;
  if (env.OMP_WAIT_POLICY === undefined && env.GOMP_SPINCOUNT === undefined) env.OMP_WAIT_POLICY = 'passive';
  try {
    const require = createRequire(import.meta.url);
    loaded = require(path) as OnednnAddon;
  } catch (e) {
    loadError = `cannot load ${path}: ${(e as Error).message.split('\n')[0]}`;
    loaded = null;
  }
  return loaded;
}

/** Why `loadNative()` returned null ('' if it loaded or was not tried yet). */
export function nativeLoadError(): string {
  return loadError;
}
