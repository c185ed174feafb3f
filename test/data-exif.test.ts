/**
 * EXIF orientation: a photo stored sideways with an Orientation tag (as phones write them) is decoded the way a viewer
 * shows it, both by loadImages (predict) and by image folders (training).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/backend/index.js';
import { loadImages, openDataset, type Batch } from '../src/data/index.js';

/** The upright picture: 16 wide, 32 tall; top half white, bottom-left quarter black, bottom-right quarter gray. */
const W = 16;
const H = 32;
const WHITE = 255;
const GRAY = 128;
const BLACK = 0;
function upright(row: number, col: number): number {
  if (row < H / 2) return WHITE;
  return col < W / 2 ? BLACK : GRAY;
}

/**
 * Pixels (one gray channel repeated as RGB) of `width` x `height` from `value(row, col)`, written as a JPEG of the
 * highest quality (the regions' edges lie on the 8x8 block grid, so decoded values stay close) with an EXIF Orientation
 * tag.
 */
async function writeJpeg(file: string, width: number, height: number, value: (row: number, col: number) => number, orientation: number): Promise<void> {
  const raw = new Uint8Array(width * height * 3);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) raw.fill(value(r, c), (r * width + c) * 3, (r * width + c + 1) * 3);
  await sharp(Buffer.from(raw), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 100, chromaSubsampling: '4:4:4' })
    .withMetadata({ orientation })
    .toFile(file);
}

let dir: string;
let straight: string;
let rotated: string;

before(async () => {
  await initBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'resnet-exif-'));
  straight = join(dir, 'upright.jpg');
  rotated = join(dir, 'phone.jpg');
  await writeJpeg(straight, W, H, upright, 1);
  // Orientation 6: the stored pixels are the upright picture turned 90 degrees counter-clockwise (H wide, W tall); a
  // viewer turns them 90 degrees clockwise to show them. Upright (r, c) = stored (W - 1 - c, r), so
  // stored (i, j) = upright (j, W - 1 - i).
  await writeJpeg(rotated, H, W, (i, j) => upright(j, W - 1 - i), 6);
  const meta = await sharp(rotated).metadata();
  assert.deepEqual([meta.width, meta.height, meta.orientation], [H, W, 6], 'the file is stored sideways and tagged');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * The largest distance (in 1/255 steps) between decoded images `xs[at..]` of `[h, w, 3]` and the upright picture
 * scaled to h x w, over pixels at least `margin` pixels (in the decoded image) from a region's edge.
 */
function offUpright(xs: Float32Array, at: number, h: number, w: number, margin: number): number {
  let worst = 0;
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < w; c++) {
      // The centre of decoded pixel (r, c) in the upright picture's coordinates (a fill resize stretches each axis).
      const y = ((r + 0.5) * H) / h;
      const x = ((c + 0.5) * W) / w;
      const nearEdge = Math.abs(y - H / 2) < (margin * H) / h || (y > H / 2 && Math.abs(x - W / 2) < (margin * W) / w);
      if (nearEdge) continue;
      const expected = upright(Math.floor(y), Math.floor(x));
      for (let k = 0; k < 3; k++) worst = Math.max(worst, Math.abs(xs[at + (r * w + c) * 3 + k] * 255 - expected));
    }
  }
  return worst;
}

test('loadImages turns a photo by its EXIF orientation before resizing it', async () => {
  for (const [h, w, margin] of [[H, W, 1], [8, 4, 1]] as const) {
    const x = await loadImages([straight, rotated], [h, w, 3]);
    assert.deepEqual(x.shape, [2, h, w, 3]);
    const v = x.dataSync() as Float32Array;
    x.dispose();
    const size = h * w * 3;
    assert.ok(offUpright(v, 0, h, w, margin) <= 3, `the upright file at ${h}x${w} is off by ${offUpright(v, 0, h, w, margin)}/255`);
    assert.ok(offUpright(v, size, h, w, margin) <= 3, `the tagged file at ${h}x${w} is off by ${offUpright(v, size, h, w, margin)}/255`);
    // And the two agree pixel by pixel (the same picture, one of them stored turned).
    let worst = 0;
    for (let k = 0; k < size; k++) worst = Math.max(worst, Math.abs(v[k] - v[size + k]) * 255);
    assert.ok(worst <= 6, `the two decodings at ${h}x${w} differ by ${worst}/255`);
  }
});

test('image folders (training) turn a photo by its EXIF orientation', async () => {
  const root = join(dir, 'classes');
  for (const cls of ['phone', 'upright']) await mkdir(join(root, cls), { recursive: true });
  await writeJpeg(join(root, 'upright', 'a.jpg'), W, H, upright, 1);
  await writeJpeg(join(root, 'phone', 'a.jpg'), H, W, (i, j) => upright(j, W - 1 - i), 6);
  const { train } = await openDataset(root, { inputShape: [H, W, 3] });
  assert.deepEqual(train.classes, ['phone', 'upright']);
  const gen = train.batches({ batchSize: 2 });
  const b = (await gen.next()).value as Batch;
  const v = b.xs.dataSync() as Float32Array;
  tf.dispose([b.xs, b.ys]);
  await gen.return(undefined);
  assert.ok(offUpright(v, 0, H, W, 1) <= 3, `the tagged file is off by ${offUpright(v, 0, H, W, 1)}/255`);
  assert.ok(offUpright(v, H * W * 3, H, W, 1) <= 3);
});
