/**
 * The `onednn` TensorFlow.js backend: the pure-JS CPU backend with its hot kernels (convolutions, matrix
 * products, ...) replaced by native oneDNN primitives. Tensor data stays in JS typed arrays exactly as on the CPU
 * backend, so every CPU kernel runs unchanged on it and serves as the fallback of each native kernel.
 */
import type { BackendValues, DataId, DataType } from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

import { bufferPool, TrackedData } from './buffer_pool.js';

import type { OnednnAddon } from './native.js';

/** The backend's registered name (tfjs backend names must not contain '_'). */
export const ONEDNN_BACKEND_NAME = 'onednn';

/** A MathBackendCPU whose registered kernels call into the oneDNN addon where they can. */
export class BackendOnednn extends MathBackendCPU {
  /** The loaded native addon. */
  readonly native: OnednnAddon;
  private readonly tokens = new WeakMap<DataId, number>();
  private nextToken = 1;

  /** @param native the loaded addon (see `loadNative`). */
  constructor(native: OnednnAddon) {
    super();
    this.native = native;
    // MathBackendCPU prints an "install tfjs-node" banner on its first write; this backend is the fast one.
    (this as unknown as { firstUse: boolean }).firstUse = false;
  }

  /** Stores data as the CPU backend does; a native kernel's output array is tracked so it can be recycled. */
  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const dataId = super.write(values, shape, dtype);
    if (dtype === 'float32' && bufferPool.owns(values)) {
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
   * A number that identifies the content of the data behind `dataId`: tfjs never changes the values of a data
   * id once written (variables get new data ids when assigned), so the native side may reuse work derived from
   * data with a token it has seen (e.g. a filter reordered into oneDNN's blocked layout) until the data is
   * disposed.
   */
  dataToken(dataId: DataId): number {
    let token = this.tokens.get(dataId);
    if (token === undefined) {
      token = this.nextToken++;
      this.tokens.set(dataId, token);
    }
    return token;
  }
}
