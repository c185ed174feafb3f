/**
 * Errors of damaged images name each file's own problem: libvips keeps one error buffer per process, so when images
 * decode together a PNG's message could carry a JPEG's errors; and libvips repeats lines, which come once each.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { loadImagesEach } from '../src/data/index.js';

test('damaged images decoded together each get their own message, every line of it once', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'resnet-decode-errors-'));
  try {
    const picture = sharp({ create: { width: 64, height: 48, channels: 3, background: '#3060a0' } });
    const jpeg = await picture.clone().jpeg().toBuffer();
    const png = await picture.clone().png().toBuffer();
    const files = { cutJpeg: path.join(dir, 'cut.jpg'), cutPng: path.join(dir, 'cut.png'), good: path.join(dir, 'good.png') };
    writeFileSync(files.cutJpeg, jpeg.subarray(0, Math.floor(jpeg.length / 3)));
    writeFileSync(files.cutPng, png.subarray(0, Math.floor(png.length / 3)));
    writeFileSync(files.good, png);
    const paths = [files.cutJpeg, files.cutPng, files.good, files.cutJpeg, files.cutPng];
    const { files: loaded, images, failed } = await loadImagesEach(paths, [8, 8, 3]);
    images?.dispose();
    assert.deepEqual(loaded, [files.good]);
    assert.deepEqual(failed.map((f) => f.file), [files.cutJpeg, files.cutPng, files.cutJpeg, files.cutPng]);
    for (const f of failed.filter((x) => x.file === files.cutPng)) assert.doesNotMatch(f.error, /jpe?g/i, `the PNG's message: ${f.error}`);
    for (const f of failed) {
      const clauses = f.error.split('; ');
      assert.equal(new Set(clauses).size, clauses.length, `a repeated line in: ${f.error}`);
      assert.ok(!f.error.includes('\n'), 'one line');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
