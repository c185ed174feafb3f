/**
 * Seeded randomness for the data layer: a small PRNG, shuffles and stratified picks, all reproducible from a seed.
 */

/** A pseudo-random generator returning floats uniform in [0, 1). */
export type Random = () => number;

/**
 * mulberry32: a 32-bit-state PRNG, fast and good enough for shuffling and augmentation.
 * The same seed always gives the same sequence.
 */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Mixes several integers into one 32-bit seed (murmur3's finaliser on a running hash), so that nearby inputs such as
 * (seed 1, epoch 0) and (seed 0, epoch 1) give unrelated streams.
 */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const part of parts) {
    h = Math.imul(h ^ (part >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

/** A uniform integer in [lo, hi] (both included). */
export function randInt(rng: Random, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

/** Shuffles `values` in place (Fisher–Yates) and returns it. */
export function shuffleInPlace<T extends { length: number; [i: number]: number }>(values: T, rng: Random): T {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = values[i];
    values[i] = values[j];
    values[j] = t;
  }
  return values;
}

/** The permutation of 0..n-1 for a seed. */
export function permutation(n: number, seed: number): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  return shuffleInPlace(p, mulberry32(seed));
}

/** Groups the positions 0..labels.length-1 by label, each group in a seeded random order. */
function shuffledByClass(labels: ArrayLike<number>, seed: number): number[][] {
  const groups = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    let g = groups.get(labels[i]);
    if (!g) groups.set(labels[i], (g = []));
    g.push(i);
  }
  const rng = mulberry32(seed);
  return [...groups.keys()].sort((a, b) => a - b).map((label) => shuffleInPlace(groups.get(label)!, rng));
}

/**
 * Picks `count` positions out of `labels` at random (seeded), keeping each class's share as close to its share in
 * the whole as whole examples allow. Returns positions in ascending order.
 */
export function stratifiedPick(labels: ArrayLike<number>, count: number, seed: number): Int32Array {
  if (count >= labels.length) return Int32Array.from({ length: labels.length }, (_, i) => i);
  // Give the k-th (shuffled) member of a class of size n the key (k + 0.5) / n and take the smallest keys:
  // the first `count` keys then hold each class in proportion to its size.
  const keyed: { pos: number; key: number; cls: number }[] = [];
  shuffledByClass(labels, seed).forEach((members, cls) =>
    members.forEach((pos, k) => keyed.push({ pos, key: (k + 0.5) / members.length, cls })),
  );
  keyed.sort((a, b) => a.key - b.key || a.cls - b.cls);
  return Int32Array.from(keyed.slice(0, count), (e) => e.pos).sort();
}

/**
 * Splits positions 0..labels.length-1 into train and validation parts, per class: round(fraction * class size) of
 * each class (chosen at random, seeded) go to validation. Both parts are in ascending order.
 */
export function stratifiedSplit(
  labels: ArrayLike<number>,
  fraction: number,
  seed: number,
): { train: Int32Array; validation: Int32Array } {
  const train: number[] = [];
  const validation: number[] = [];
  for (const members of shuffledByClass(labels, seed)) {
    const nVal = Math.round(fraction * members.length);
    validation.push(...members.slice(0, nVal));
    train.push(...members.slice(nVal));
  }
  return { train: Int32Array.from(train).sort(), validation: Int32Array.from(validation).sort() };
}
