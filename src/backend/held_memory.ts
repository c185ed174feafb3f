/**
 * Float32Arrays that plans of native calls (compiled executors) hold outside tfjs tensors, counted so that
 * `tf.memory()` on the onednn backend can show them (`numBytesInNativePlans`) beside the tensors' own bytes.
 *
 * Why: an executor that runs a model as a planned list of native calls keeps its activations and gradients in arrays
 * it owns, not in tensors, so tfjs's engine cannot count them. A plan allocates them with {@link heldArray}; each
 * array counts until it is garbage collected (so, like the CPU backend's own figures, the count is an upper bound).
 */

let bytesHeld = 0;

/** Uncounts each array once it has been garbage collected. */
const collected = new FinalizationRegistry<number>((bytes) => {
  bytesHeld -= bytes;
});

/** A new zero-filled array of `size` elements for a native plan, counted until it is garbage collected. */
export function heldArray(size: number): Float32Array {
  const array = new Float32Array(size);
  bytesHeld += array.byteLength;
  collected.register(array, array.byteLength);
  return array;
}

/** Bytes of the arrays from {@link heldArray} not yet garbage collected. */
export function heldBytes(): number {
  return bytesHeld;
}

/**
 * Arrays shared by plans that never run at the same time, such as one model's compiled training steps for two batch
 * sizes (a run's full batches and its last, smaller one). Each plan gets its own allocator ({@link allocator}): for
 * every array it asks for, a different one of the arena's arrays of at least that length (a view of its start), and
 * a new one, added to the arena, only where none is left. Two such plans then hold about the memory of the larger
 * one instead of both.
 *
 * Only for plans that need no array to start zeroed, keep nothing in their arrays from one run to the next, and run
 * one at a time: an array's contents are whatever the last plan that ran left in it.
 */
export class PlanArena {
  /** The arena's arrays, shortest first. */
  private readonly arrays: Float32Array[] = [];

  /** A new plan's allocator: each array it returns is a different one (or part of a different one) of the arena's. */
  allocator(): (size: number) => Float32Array {
    const taken = new Set<Float32Array>();
    return (size: number): Float32Array => {
      let fit = this.arrays.find((a) => a.length >= size && !taken.has(a));
      if (fit === undefined) {
        fit = heldArray(size);
        const at = this.arrays.findIndex((a) => a.length > size);
        this.arrays.splice(at < 0 ? this.arrays.length : at, 0, fit);
      }
      taken.add(fit);
      return fit.length === size ? fit : fit.subarray(0, size);
    };
  }

  /** Bytes of the arena's arrays. */
  get bytes(): number {
    return this.arrays.reduce((n, a) => n + a.byteLength, 0);
  }
}
