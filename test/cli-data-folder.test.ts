/**
 * The CLI with a user's own image folder as data: a run folder inside the data folder is refused before anything is
 * created (exit 2); evaluate says what the folder holds and what it skipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { checkOutOutsideData } from '../src/cli/commands/train.js';
import { CliError } from '../src/cli/common.js';
import { initBackend } from '../src/backend/index.js';
import { saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { SIGNS_TRAIN, TEST_BACKEND, TINY_INPUT, tempDir, tinyResNet } from './train-fixtures.js';

const { dir: work, cleanup } = tempDir('resnet-cli-data-folder-');
test.after(cleanup);

const tiny = ['--input', '40,40,3', '--arch', 'resnet18', '--width-divisor', '32', '--backend', TEST_BACKEND];

/** Makes an image folder `<work>/<name>` with classes `red` and `blue`, two small PNG images each. */
async function imageFolder(name: string): Promise<string> {
  const root = join(work, name);
  for (const [cls, colour] of [['red', { r: 220, g: 20, b: 20 }], ['blue', { r: 20, g: 20, b: 220 }]] as const) {
    mkdirSync(join(root, cls), { recursive: true });
    for (const file of ['a.png', 'b.png']) {
      await sharp({ create: { width: 8, height: 8, channels: 3, background: colour } }).png().toFile(join(root, cls, file));
    }
  }
  return root;
}

/** Asserts a usage error (exit 2) of one line naming both folders and saying what to do. */
function assertRefused(r: Awaited<ReturnType<typeof runCaptured>>, out: string, data: string, flag: string): void {
  assert.equal(r.code, 2, r.err);
  assert.equal(r.out, '');
  const lines = r.err.split('\n').filter((l) => l !== '');
  assert.equal(lines.length, 1, r.err);
  assert.ok(lines[0].startsWith('resnet: the run folder '), lines[0]);
  assert.ok(lines[0].includes(`${out} (--out) is inside the data folder ${data} (${flag})`), lines[0]);
  assert.ok(lines[0].endsWith('choose an --out outside the data folder'), lines[0]);
}

test('train and demo refuse an --out inside the data folder, before creating anything', async () => {
  const photos = await imageFolder('photos');
  const before = readdirSync(photos).sort();

  const out = join(photos, 'myrun');
  assertRefused(await runCaptured(['train', '--data', photos, '--out', out, '--epochs', '1', ...tiny]), out, photos, '--data');
  assert.deepEqual(readdirSync(photos).sort(), before, 'nothing created in the data folder');

  // Deeper, and through --val-data.
  const valOut = join(photos, 'red', 'runs', 'x');
  assertRefused(await runCaptured(['train', '--data', SIGNS_TRAIN, '--val-data', photos, '--out', valOut, ...tiny]), valOut, photos, '--val-data');
  assert.ok(!existsSync(join(photos, 'red', 'runs')));

  // The data folder itself as --out.
  const same = await runCaptured(['train', '--data', photos, '--out', photos, ...tiny]);
  assert.equal(same.code, 2, same.err);
  assert.match(same.err, /^resnet: the run folder \S+ \(--out\) is the data folder \S+ \(--data\), .*choose an --out outside the data folder\n$/);

  // demo too.
  const demoOut = join(photos, 'demo');
  assertRefused(await runCaptured(['demo', '--data', photos, '--out', demoOut, '--epochs', '1', ...tiny]), demoOut, photos, '--data');
  assert.deepEqual(readdirSync(photos).sort(), before);
});

test('train inside the data folder with the default --out (cd photos && resnet train --data .) is refused', async () => {
  const photos = await imageFolder('cwd-photos');
  const cwd = process.cwd();
  process.chdir(photos);
  let r;
  try {
    r = await runCaptured(['train', '--data', '.', '--epochs', '1', ...tiny]);
  } finally {
    process.chdir(cwd);
  }
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, new RegExp(`^resnet: the run folder ${photos}/runs/resnet18-\\S+ \\(--out\\) is inside the data folder ${photos} \\(--data\\)`));
  assert.deepEqual(readdirSync(photos).sort(), ['blue', 'red'], 'no runs/ folder made');
});

test('checkOutOutsideData: links are followed; a sibling folder, a data file and a missing path pass', async () => {
  const photos = await imageFolder('linked-photos');
  const link = join(work, 'link-to-photos');
  symlinkSync(photos, link);
  // Data named through the link, --out through the real path (and the other way round).
  assert.throws(() => checkOutOutsideData(join(photos, 'run'), [['--data', link]]), (e: Error) => e instanceof CliError && e.exitCode === 2);
  assert.throws(() => checkOutOutsideData(join(link, 'a', 'b'), [['--data', photos]]), CliError);
  // A sibling whose name starts like the data folder's is outside it.
  assert.doesNotThrow(() => checkOutOutsideData(`${photos}-run`, [['--data', photos]]));
  assert.doesNotThrow(() => checkOutOutsideData(join(work, 'run'), [['--data', photos], ['--val-data', undefined]]));
  // A data file, or a path that does not exist: nothing to be inside of.
  assert.doesNotThrow(() => checkOutOutsideData(join(SIGNS_TRAIN, 'x'), [['--data', SIGNS_TRAIN]]));
  assert.doesNotThrow(() => checkOutOutsideData(join(work, 'nowhere', 'run'), [['--data', join(work, 'nowhere')]]));
});

test('evaluate on an image folder prints its classes with their image counts and what it skipped, on stderr', async () => {
  const photos = await imageFolder('eval-photos');
  writeFileSync(join(photos, 'red', 'clip.gif'), 'x');
  writeFileSync(join(photos, 'red', '.DS_Store'), 'x');
  await initBackend('cpu');
  const modelDir = join(work, 'eval-model');
  const model = tinyResNet(TINY_INPUT, 2);
  await saveModel(model, modelDir, { classes: ['blue', 'red'], inputShape: TINY_INPUT });
  model.dispose();
  const r = await runCaptured(['evaluate', '--model', modelDir, '--data', photos, '--backend', 'cpu']);
  assert.equal(r.code, 0, r.err);
  const described = `${photos}: 2 classes, 4 images (blue 2, red 2); skipped 1 file that is not JPEG, PNG or WebP (.gif)`;
  assert.ok(r.err.split('\n').includes(described), r.err);
  assert.match(r.out, /^data: .* \(4 images\)$/m);
});

test("evaluate on a folder of some of the model's classes reports all of them (the absent ones with support 0); an unknown class is refused", async () => {
  const photos = await imageFolder('subset-photos'); // blue and red
  await initBackend('cpu');
  const modelDir = join(work, 'subset-model');
  const model = tinyResNet(TINY_INPUT, 3);
  await saveModel(model, modelDir, { classes: ['blue', 'green', 'red'], inputShape: TINY_INPUT });
  model.dispose();
  const r = await runCaptured(['evaluate', '--model', modelDir, '--data', photos, '--backend', 'cpu', '--json']);
  assert.equal(r.code, 0, r.err);
  const result = JSON.parse(r.out) as { classes: string[]; count: number; accuracy: number; confusion: number[][]; perClass: { name: string; support: number }[] };
  assert.deepEqual(result.classes, ['blue', 'green', 'red']);
  assert.equal(result.count, 4);
  assert.deepEqual(result.perClass.map((m) => [m.name, m.support]), [['blue', 2], ['green', 0], ['red', 2]]);
  assert.deepEqual(result.confusion.map((row) => row.reduce((a, b) => a + b, 0)), [2, 0, 2], 'rows: true classes by name');
  assert.equal(result.accuracy, (result.confusion[0][0] + result.confusion[2][2]) / 4);

  // The text output's table has a row for the absent class.
  const text = await runCaptured(['evaluate', '--model', modelDir, '--data', photos, '--backend', 'cpu']);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^green +n\/a +n\/a +0$|^green +\d\.\d{3} +n\/a +0$/m);

  // A folder with a class the model does not have: one line naming it, exit 1, nothing on stdout.
  const other = await imageFolder('subset-other');
  mkdirSync(join(other, 'cat'));
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 0, g: 0, b: 0 } } }).png().toFile(join(other, 'cat', 'a.png'));
  const refused = await runCaptured(['evaluate', '--model', modelDir, '--data', other, '--backend', 'cpu']);
  assert.equal(refused.code, 1, refused.err);
  assert.equal(refused.out, '');
  assert.ok(refused.err.endsWith(`resnet: class mismatch: ${other} has a class that the model does not have: [cat] (it has [blue, green, red])\n`), refused.err);
});

test('train on a folder of train/, val/ and test/ validates on val/ and says so; with --val-split it holds out part of train/ and says val/ is unused; --val-limit picks from val/', async () => {
  const root = join(work, 'split-photos');
  for (const [part, n] of [['train', 3], ['val', 2], ['test', 1]] as const) {
    for (const [cls, colour] of [['red', { r: 220, g: 20, b: 20 }], ['blue', { r: 20, g: 20, b: 220 }]] as const) {
      mkdirSync(join(root, part, cls), { recursive: true });
      for (let i = 0; i < n; i++) {
        await sharp({ create: { width: 8, height: 8, channels: 3, background: colour } }).png().toFile(join(root, part, cls, `${i}.png`));
      }
    }
  }
  const out = join(work, 'split-run');
  const r = await runCaptured(['train', '--data', root, '--epochs', '1', '--batch-size', '3', '--out', out, ...tiny]);
  assert.equal(r.code, 0, r.err);
  const lines = r.err.split('\n');
  assert.ok(lines.includes(`${join(root, 'val')}: 2 classes, 4 images (blue 2, red 2)`), r.err);
  assert.ok(lines.includes(`validation: ${join(root, 'val')} (the data folder's val/; --val-data or --val-split choose otherwise)`), r.err);
  assert.ok(lines.some((l) => l.startsWith('images: 6 training, 4 validation;')), r.err);
  const report = readFileSync(join(out, 'report', 'report.md'), 'utf8');
  assert.ok(report.split('\n').includes(`- validation: ${join(root, 'val')} (the data folder's val/)`), report);

  // Resumed, the run validates on val/ again (no --val-split was stored with it).
  const resumed = await runCaptured(['train', '--out', out, '--resume', '--epochs', '2']);
  assert.equal(resumed.code, 0, resumed.err);
  assert.ok(resumed.err.split('\n').includes(`validation: ${join(root, 'val')} (the data folder's val/; --val-data or --val-split choose otherwise)`), resumed.err);

  // An explicit --val-split holds out part of train/ instead, with a note that val/ is not used.
  const split = await runCaptured(['train', '--data', root, '--val-split', '0.5', '--epochs', '1', '--batch-size', '3', '--out', join(work, 'split-run-2'), ...tiny]);
  assert.equal(split.code, 0, split.err);
  const splitLines = split.err.split('\n');
  assert.ok(splitLines.includes(`note: ${join(root, 'val')} is not used for validation: --val-split 0.5 holds out part of the training images instead`), split.err);
  // Both parts come out of train/'s 6 images.
  const counts = splitLines.map((l) => /^images: (\d+) training, (\d+) validation;/.exec(l)).find((m) => m !== null);
  assert.ok(counts !== undefined, split.err);
  assert.equal(Number(counts[1]) + Number(counts[2]), 6, split.err);

  // --val-limit picks from val/ (a class-balanced 2 of its 4 images); with --val-split there is no val/ to pick from.
  const limitOut = join(work, 'split-run-3');
  const limited = await runCaptured(['train', '--data', root, '--val-limit', '2', '--epochs', '1', '--batch-size', '3', '--out', limitOut, ...tiny]);
  assert.equal(limited.code, 0, limited.err);
  assert.ok(limited.err.split('\n').some((l) => l.startsWith('images: 6 training, 2 validation;')), limited.err);
  const limitedReport = readFileSync(join(limitOut, 'report', 'report.md'), 'utf8');
  assert.ok(limitedReport.split('\n').includes(`- validation: ${join(root, 'val')} (the data folder's val/; a class-balanced pick of 2 images)`), limitedReport);
  const refusedOut = join(work, 'split-run-4');
  const refused = await runCaptured(['train', '--data', root, '--val-split', '0.5', '--val-limit', '2', '--epochs', '1', '--out', refusedOut, ...tiny]);
  assert.equal(refused.code, 2, refused.err);
  assert.equal(refused.err, `resnet: --val-limit picks from ${join(root, 'val')}, which --val-split leaves unused (the part it holds out of --data is sized by --val-split): give one of them\n`);
  assert.equal(existsSync(refusedOut), false);
});
