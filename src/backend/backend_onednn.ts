/**
 * The `onednn` TensorFlow.js backend: the pure-JS CPU backend with its hot kernels (convolutions, matrix
 * products, ...) replaced by native oneDNN primitives. Tensor data stays in JS typed arrays exactly as on the CPU
 * backend, so every CPU kernel runs unchanged on it and serves as the fallback of each native kernel.
 */
import type { BackendValues, DataId, DataType, MemoryInfo } from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

import { bufferPool, TrackedData } from './buffer_pool.js';
import { heldBytes } from './held_memory.js';

import type { OnednnAddon } from './native.js';

/**
 * What `tf.memory()` returns while the onednn backend is active: tfjs's fields, and the bytes this backend holds
 * outside tensors (see {@link BackendOnednn.memory}). `tf.memory() as OnednnMemoryInfo` reads them.
 */
export interface OnednnMemoryInfo extends MemoryInfo {
  /** Free output arrays kept for reuse (at most RESNET_ONEDNN_POOL_MB). */
  numBytesInPool: number;
  /** The arrays of compiled executors (activations, gradients), counted until garbage collected. */
  numBytesInNativePlans: number;
}

/** The backend's registered name (tfjs backend names must not contain '_'). */
export const ONEDNN_BACKEND_NAME = 'onednn';

/** A MathBackendCPU whose registered kernels call into the oneDNN addon where they can. */
export class BackendOnednn extends MathBackendCPU {
  /** The loaded native addon. */
  readonly native: OnednnAddon;
  private readonly tokens = new WeakMap<DataId, number>();
  /** The per-channel sums of the last dy that Conv2DBackpropFilter saw, see {@link rememberChannelSums}. */
  private channelSums: { dataId: DataId; sums: Float32Array } | null = null;

  /** @param native the loaded addon (see `loadNative`). */
  constructor(native: OnednnAddon) {
    super();
    this.native = native;
    bufferPool.allocateWith((byteLength) => native.alignedArrayBuffer(byteLength));
    // MathBackendCPU prints an "install tfjs-node" banner on its first write; this backend is the fast one.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** Stores data as the CPU backend does; a native kernel's output array is tracked so it can be recycled. */
  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = super.write(values, shape, dtype);
    if (dtype === 'float32' && bufferPool.owns(values)) {
      // Replace the entry super.write made: delete first, as DataStorage counts every set (tfjs's numDataIds, and
      // with it the engine's leak check under IS_TEST, would otherwise see one more data id per native output).
      this.data.delete(dataId);
      this.data.set(dataId, new TrackedData('float32', values) as unknown as ReturnType<typeof this.data.get>);
    }
    return dataId;
  }

  /**
   * Disposes data as the CPU backend does, recycles its array if only native kernels ever saw it, and lets the
   * native side free what it derived from that data.
   */
  override disposeData(dataId: DataId, force = false): boolean {
    const entry: unknown = this.data.get(dataId);
    const disposed = super.disposeData(dataId, force);
    if (disposed && entry instanceof TrackedData && !entry.escaped && !this.data.has(dataId)) {
      bufferPool.give(entry.raw);
    }
    if (disposed && this.channelSums?.dataId === dataId) this.forgetChannelSums();
    if (disposed) {
      const token = this.tokens.get(dataId);
      if (token !== undefined) {
        this.tokens.delete(dataId);
        this.native.releaseToken(token);
      }
    }
    return disposed;
  }

  /**
   * What `tf.memory()` reports beyond the engine's tensor counts: the CPU backend's fields, plus the bytes this
   * backend holds outside tensors. `numBytesInPool`: recycled output arrays kept free for reuse (at most
   * RESNET_ONEDNN_POOL_MB). `numBytesInNativePlans`: the arrays of compiled executors still alive (their activations
   * and gradients, which are not tensors). The addon's cached primitives and reordered filters are not counted.
   */
  override memory(): { unreliable: boolean; reasons: string[]; numBytesInPool: number; numBytesInNativePlans: number } {
    return { ...super.memory(), numBytesInPool: bufferPool.bytes, numBytesInNativePlans: heldBytes() };
  }

  /**
   * Disposes the backend as the CPU backend does (tf.engine().reset(), tf.removeBackend), and gives back what native
   * code holds: the recycled output arrays and the addon's cached primitives and reordered filters.
   */
  override dispose(): void {
    super.dispose();
    this.forgetChannelSums();
    bufferPool.clear();
    this.native.clearCaches();
  }

  /**
   * Remembers `sums`, an array from `outputArray` holding the sum of the data `dataId` over every axis but the last
   * (computed as a by-product: oneDNN's convolution backward-weights pass gives the bias gradient, the per-channel
   * sum of dy, nearly for free). A Sum over those axes of that same data then takes it instead of a pass over the
   * data: tfjs's fused conv2d gradient computes dFilter and then sum(dy) for the bias. Only the latest is kept.
   */
  rememberChannelSums(dataId: DataId, sums: Float32Array): void {
    this.forgetChannelSums();
    this.channelSums = { dataId, sums };
  }

  /**
   * The sums remembered for `dataId` if they are `channels` values, handed over once (the caller owns the array), or
   * null.
   */
  takeChannelSums(dataId: DataId, channels: number): Float32Array | null {
    if (this.channelSums?.dataId !== dataId || this.channelSums.sums.length !== channels) return null;
    const { sums } = this.channelSums;
    this.channelSums = null;
    return sums;
  }

  private forgetChannelSums(): void {
    if (this.channelSums !== null) bufferPool.give(this.channelSums.sums);
    this.channelSums = null;
  }

  /**
   * A number that identifies the content of the data behind `dataId`: tfjs never changes the values of a data
   * id once written (variables get new data ids when assigned), so the native side may reuse work derived from
   * data with a token it has seen (e.g. a filter reordered into oneDNN's blocked layout) until the data is
   * disposed.
   */
  dataToken(dataId: DataId): number {
    let token = this.tokens.get(dataId);
    if (token === undefined) {
      token = this.native.newToken(); // unique in the process: the native caches outlive this backend
      this.tokens.set(dataId, token);
    }
    return token;
  }
}
