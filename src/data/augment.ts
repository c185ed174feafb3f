/**
 * Training-time augmentation on raw float images: random mirror and random translation with zero fill.
 * Works on plain arrays so that it is exact, seeded and free of tensor bookkeeping.
 */
import type { AugmentOptions } from './types.js';
import { randInt, type Random } from './random.js';

/** Zero padding on each side used by `crop` (pad, then take a random window of the original size). */
export const CROP_PADDING = 4;

/** What augmentation does to one image: mirror first, then move by (dx, dy) pixels. */
export interface ImageTransform {
  flip: boolean;
  /** Horizontal move in pixels (positive: to the right). */
  dx: number;
  /** Vertical move in pixels (positive: down). */
  dy: number;
}

/** True when the options ask for any augmentation at all. */
export function augmentsAnything(opts: AugmentOptions | undefined): boolean {
  return !!opts && (!!opts.flip || (opts.shift ?? 0) > 0 || !!opts.crop);
}

/**
 * Draws one image's transform. A crop of a zero-padded image is the same as a move by up to `CROP_PADDING` pixels
 * with zero fill, so `crop` adds such a move to `shift`'s.
 */
export function drawTransform(rng: Random, opts: AugmentOptions, height: number, width: number): ImageTransform {
  const flip = !!opts.flip && rng() < 0.5;
  let dx = 0;
  let dy = 0;
  const shift = opts.shift ?? 0;
  if (shift > 0) {
    const mx = Math.round(shift * width);
    const my = Math.round(shift * height);
    dx += randInt(rng, -mx, mx);
    dy += randInt(rng, -my, my);
  }
  if (opts.crop) {
    dx += randInt(rng, -CROP_PADDING, CROP_PADDING);
    dy += randInt(rng, -CROP_PADDING, CROP_PADDING);
  }
  return { flip, dx, dy };
}

/**
 * Applies `t` to image `n` of the NHWC array `src`, writing it to the same place in `dst`:
 * `dst[y][x] = m[y - dy][x - dx]` where `m` is the (optionally mirrored) source, and 0 outside it.
 */
export function transformImage(
  src: Float32Array,
  dst: Float32Array,
  n: number,
  height: number,
  width: number,
  channels: number,
  t: ImageTransform,
): void {
  const base = n * height * width * channels;
  for (let y = 0; y < height; y++) {
    const sy = y - t.dy;
    for (let x = 0; x < width; x++) {
      const o = base + (y * width + x) * channels;
      const mx = x - t.dx;
      if (sy < 0 || sy >= height || mx < 0 || mx >= width) {
        dst.fill(0, o, o + channels);
        continue;
      }
      const sx = t.flip ? width - 1 - mx : mx;
      const i = base + (sy * width + sx) * channels;
      for (let c = 0; c < channels; c++) dst[o + c] = src[i + c];
    }
  }
}

/** Augments every image of an NHWC batch with its own random transform; returns a new array. */
export function augmentImages(
  src: Float32Array,
  shape: readonly [number, number, number, number],
  opts: AugmentOptions,
  rng: Random,
): Float32Array {
  const [count, height, width, channels] = shape;
  const dst = new Float32Array(src.length);
  for (let n = 0; n < count; n++) {
    transformImage(src, dst, n, height, width, channels, drawTransform(rng, opts, height, width));
  }
  return dst;
}
