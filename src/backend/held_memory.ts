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
