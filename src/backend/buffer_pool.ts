/**
 * Recycling of the Float32Arrays that native kernels write their outputs into.
 *
 * Why: a ResNet-50 training step creates about 4 GB of op outputs. As fresh ArrayBuffers they cost a V8 garbage
 * collection every few dozen ops (about a quarter of a step) and fresh memory for every op. Reusing the arrays of
 * disposed tensors removes both. tfjs's CPU backend cannot do this because it hands its arrays out (dataSync,
 * subarray views in Slice), so an array may only be reused when nothing outside the native kernels ever saw it:
 *
 * - `outputArray` allocates native kernels' outputs; only arrays it made are ever recycled;
 * - the backend stores them in a {@link TrackedData} entry, whose `values` getter marks the array as escaped the
 *   first time anything reads it (a CPU kernel, readSync/dataSync, the engine), after which it is never reused;
 * - native kernels read their inputs through {@link rawValues}, which does not mark them;
 * - when the backend disposes an entry that never escaped, its array goes back to the pool.
 *
 * `RESNET_ONEDNN_POOL_MB` caps the bytes kept free in the pool (default 2048; 0 turns recycling off).
 */

/** Bytes the pool may hold free, from RESNET_ONEDNN_POOL_MB (MiB). */
function poolCapBytes(): number {
  const setting = process.env.RESNET_ONEDNN_POOL_MB;
  const mib = setting === undefined || setting.trim() === '' ? 2048 : Number(setting);
  return Number.isFinite(mib) && mib > 0 ? mib * 1024 * 1024 : 0;
}

/**
 * Free arrays by length (aligned ones apart), and which arrays the pool may take back.
 *
 * When the pool is full, the arrays of the lengths used least recently are dropped to make room: after a change of
 * workload (another batch size, another model) the pool comes to hold the new lengths instead of keeping the old ones
 * and turning every new array away.
 */
export class BufferPool {
  /** Free arrays by key (length, and whether aligned; see {@link keyOf}), least recently used key first. */
  private readonly free = new Map<number, Float32Array[]>();
  private readonly made = new WeakSet<Float32Array>();
  private readonly aligned = new WeakSet<Float32Array>();
  private freeBytes = 0;
  private allocate: ((byteLength: number) => ArrayBuffer) | null = null;

  /** @param capBytes the bytes the pool may hold free (default: from RESNET_ONEDNN_POOL_MB). */
  constructor(private readonly capBytes = poolCapBytes()) {}

  /**
   * A Float32Array of `size` elements with undefined contents: a recycled one, or a new one in its own ArrayBuffer
   * (offset 0, not zero-filled: native kernels overwrite all of it).
   *
   * `aligned` asks for an array that starts on a 64-byte boundary, which streaming stores of whole cache lines need
   * (the addon's adam). V8 aligns its ArrayBuffers to 16 bytes only, so those come from the addon's allocator once the
   * backend has given it ({@link allocateWith}). Only where asked: Node frees such external memory on a turn of the
   * event loop rather than at garbage collection, so a synchronous loop that reads (and so never recycles) many of
   * them would hold them all until it yields.
   */
  take(size: number, aligned = false): Float32Array {
    const wantAligned = aligned && this.allocate !== null;
    const key = keyOf(size, wantAligned);
    const list = this.free.get(key);
    const reused = list?.pop();
    if (list !== undefined && reused !== undefined) {
      this.freeBytes -= reused.byteLength;
      this.touch(key, list);
      return reused;
    }
    let array: Float32Array;
    if (wantAligned && this.allocate !== null) {
      array = new Float32Array(this.allocate(size * 4), 0, size);
      this.aligned.add(array);
    } else {
      const buf = Buffer.allocUnsafeSlow(size * 4);
      array = new Float32Array(buf.buffer, buf.byteOffset, size);
    }
    this.made.add(array);
    return array;
  }

  /** Makes aligned arrays ({@link take}) in ArrayBuffers from `allocate` (the addon's alignedArrayBuffer). */
  allocateWith(allocate: (byteLength: number) => ArrayBuffer): void {
    this.allocate = allocate;
  }

  /** Whether `array` came from `take` (and so may be given back). */
  owns(array: unknown): array is Float32Array {
    return array instanceof Float32Array && this.made.has(array);
  }

  /**
   * Takes back an array nothing references any more. When that overfills the pool, the arrays of the least recently
   * used lengths are dropped first; an array larger than the whole pool is dropped itself.
   */
  give(array: Float32Array): void {
    if (!this.made.has(array) || array.byteLength > this.capBytes) return;
    const key = keyOf(array.length, this.aligned.has(array));
    const list = this.free.get(key) ?? [];
    list.push(array);
    this.touch(key, list);
    this.freeBytes += array.byteLength;
    for (const [oldKey, oldList] of this.free) {
      if (this.freeBytes <= this.capBytes) break;
      while (oldList.length > 0 && this.freeBytes > this.capBytes) this.freeBytes -= (oldList.pop() as Float32Array).byteLength;
      if (oldList.length === 0) this.free.delete(oldKey);
    }
  }

  /** Marks `key` (holding `list`) as the most recently used length. */
  private touch(key: number, list: Float32Array[]): void {
    this.free.delete(key);
    this.free.set(key, list);
  }

  /** Bytes held free. */
  get bytes(): number {
    return this.freeBytes;
  }

  /** Drops every free array (they are then garbage collected). */
  clear(): void {
    this.free.clear();
    this.freeBytes = 0;
  }
}

/** The free-list key of arrays of `size` elements, aligned or not. */
function keyOf(size: number, aligned: boolean): number {
  return size * 2 + (aligned ? 1 : 0);
}

/** The process's pool (native kernels of every onednn backend instance share it). */
export const bufferPool = new BufferPool();

/**
 * A backend data entry whose Float32Array came from the pool: reading `values` (what every CPU kernel and
 * readSync do) marks it escaped, so it is never recycled; the native kernels use {@link rawValues} instead.
 */
export class TrackedData {
  /** Number of tensors sharing this data (managed by MathBackendCPU). */
  refCount = 1;
  /** Whether anything but a native kernel has read the array. */
  escaped = false;
  private array: Float32Array;

  constructor(
    /** The data's dtype ('float32'). */
    readonly dtype: 'float32',
    array: Float32Array,
  ) {
    this.array = array;
  }

  /** The array, for code outside the native kernels: from now on it is never recycled. */
  get values(): Float32Array {
    this.escaped = true;
    return this.array;
  }

  set values(array: Float32Array) {
    this.escaped = true;
    this.array = array;
  }

  /** The array without marking it escaped: native kernels only, which never keep it. */
  get raw(): Float32Array {
    return this.array;
  }
}

/** A data entry's values as the native kernels read them: without marking a pooled array as escaped. */
export function rawValues(entry: { values?: unknown } | TrackedData | undefined): unknown {
  return entry instanceof TrackedData ? entry.raw : entry?.values;
}
