/**
 * Saving into a folder never deletes what is not ours: `saveModel`, `writeDirAtomic` (checkpoints, reports) and
 * `resnet convert` replace a folder only when it is missing, empty, or holds nothing but the files being replaced;
 * any other folder, a file, a symbolic link or the current folder is refused with one line naming it and what is in
 * the way, and everything in it survives.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { makeFolder, removeStaleTemps, writeDirAtomic, writeFileSynced } from '../src/train/fsutil.js';
import { type ReportInput, writeReport } from '../src/train/report.js';
import type { EpochRecord } from '../src/train/checkpoint.js';
import { loadModel, modelMetadata, saveModel } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { savedKernelValue, tinyDenseModel } from './io-helpers.js';

tf.env().set('IS_TEST', true);

const root = mkdtempSync(path.join(tmpdir(), 'resnet-io-save-'));
process.on('exit', () => rmSync(root, { recursive: true, force: true }));

/** A fresh empty folder under the test's temporary root. */
function freshDir(name: string): string {
  const d = path.join(root, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d, { recursive: true });
  return d;
}

/** Every entry (recursively) under `dir` with its content, to prove a refused save left it exactly as it was. */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const r = path.join(rel, e.name);
      if (e.isSymbolicLink()) out[r] = `-> ${readlinkSync(p)}`;
      else if (e.isDirectory()) {
        out[`${r}/`] = '';
        walk(p, r);
      } else out[r] = readFileSync(p, 'utf8');
    }
  };
  walk(dir, '');
  return out;
}

function temps(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.startsWith('.tmp-'));
}

test('saveModel refuses a folder holding a file that is not a model file, and the file survives', async () => {
  const parent = freshDir('foreign');
  const victim = path.join(parent, 'victim');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'notes.txt'), 'my notes\n');
  const before = snapshot(parent);
  const model = tinyDenseModel(1);
  try {
    await assert.rejects(saveModel(model, victim), (e: Error) => {
      assert.equal(e.message, `${victim}: folder is not empty and is not a saved model (holds notes.txt)`);
      return true;
    });
    assert.deepEqual(snapshot(parent), before);

    // Even beside a previous model's files, a foreign file blocks the save (and the old model stays too).
    await saveModel(model, path.join(parent, 'm'));
    writeFileSync(path.join(parent, 'm', 'README'), 'keep me\n');
    const withModel = snapshot(parent);
    await assert.rejects(saveModel(tinyDenseModel(2), path.join(parent, 'm')), /m: folder is not empty and is not a saved model \(holds README\)$/);
    assert.deepEqual(snapshot(parent), withModel);
  } finally {
    model.dispose();
  }
});

test('saveModel refuses a folder of training images, a run folder, a file and a symbolic link; it names what is in the way', async () => {
  const parent = freshDir('refusals');
  // photos/red: images (and a sub-folder).
  const red = path.join(parent, 'photos', 'red');
  mkdirSync(path.join(red, 'more'), { recursive: true });
  for (const n of ['a.png', 'b.png', 'c.png', 'd.png']) writeFileSync(path.join(red, n), n);
  // A training run folder: checkpoints/ with a model inside, log files.
  const run = path.join(parent, 'run');
  await saveModel(tinyDenseModel(1), path.join(run, 'checkpoints', 'epoch-0001'));
  writeFileSync(path.join(run, 'checkpoints', 'latest'), 'epoch-0001\n');
  writeFileSync(path.join(run, 'log.csv'), 'epoch,loss\n');
  // A plain file, and a link to an empty folder.
  const file = path.join(parent, 'model.txt');
  writeFileSync(file, 'not a folder\n');
  mkdirSync(path.join(parent, 'empty-target'));
  const link = path.join(parent, 'link');
  symlinkSync(path.join(parent, 'empty-target'), link);

  const before = snapshot(parent);
  const model = tinyDenseModel(1);
  try {
    await assert.rejects(saveModel(model, red), (e: Error) => e.message === `${red}: folder is not empty and is not a saved model (holds a.png, b.png, c.png and 2 more)`);
    await assert.rejects(saveModel(model, run), (e: Error) => e.message === `${run}: folder is not empty and is not a saved model (holds checkpoints/, log.csv)`);
    await assert.rejects(saveModel(model, file), (e: Error) => e.message === `${file}: is a file, not a folder`);
    await assert.rejects(saveModel(model, link), (e: Error) => e.message === `${link}: is a symbolic link, not a folder`);
    assert.deepEqual(snapshot(parent), before);
    assert.deepEqual(temps(parent), []);
  } finally {
    model.dispose();
  }
});

test("saveModel refuses '.' (the current folder), empty or not, and leaves it as it was", async () => {
  const cwd = process.cwd();
  const model = tinyDenseModel(1);
  try {
    const empty = freshDir('cwd-empty');
    process.chdir(empty);
    await assert.rejects(saveModel(model, '.'), (e: Error) => e.message === '.: is the current folder; cannot replace it');
    assert.deepEqual(readdirSync(empty), []);
    assert.equal(process.cwd(), empty);

    const full = freshDir('cwd-full');
    writeFileSync(path.join(full, 'notes.txt'), 'x');
    process.chdir(full);
    await assert.rejects(saveModel(model, '.'), (e: Error) => e.message === '.: is the current folder; cannot replace it');
    await assert.rejects(saveModel(model, './'), (e: Error) => e.message === './: is the current folder; cannot replace it');
    assert.deepEqual(readdirSync(full), ['notes.txt']);
    // The parent of the current folder holds it (and other test folders): refused as well.
    await assert.rejects(saveModel(model, '..'), (e: Error) => /^\.\.: folder is not empty and is not a saved model \(holds [^)]*\/[^)]*\)$/.test(e.message));
    assert.ok(existsSync(full));
  } finally {
    process.chdir(cwd);
    model.dispose();
  }
});

test('saveModel fills an empty folder, and replaces a previous saved model (its own files or converter shards) whole', async () => {
  const parent = freshDir('accept');
  const target = path.join(parent, 'empty');
  mkdirSync(target);
  const one = tinyDenseModel(1);
  const two = tinyDenseModel(2);
  try {
    await saveModel(one, target);
    assert.deepEqual(readdirSync(target).sort(), ['model.json', 'weights.bin']);
    assert.equal(await savedKernelValue(target), 1);
    await saveModel(two, target);
    assert.equal(await savedKernelValue(target), 2);
    assert.deepEqual(readdirSync(target).sort(), ['model.json', 'weights.bin']);

    // A model written by the tfjs converter names its shards in model.json: those shards are model files too.
    const sharded = path.join(parent, 'sharded');
    await saveModel(one, sharded);
    const json = JSON.parse(readFileSync(path.join(sharded, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = ['group1-shard1of1.bin'];
    writeFileSync(path.join(sharded, 'model.json'), JSON.stringify(json));
    writeFileSync(path.join(sharded, 'group1-shard1of1.bin'), readFileSync(path.join(sharded, 'weights.bin')));
    rmSync(path.join(sharded, 'weights.bin'));
    assert.equal(await savedKernelValue(sharded), 1);
    await saveModel(two, sharded);
    assert.deepEqual(readdirSync(sharded).sort(), ['model.json', 'weights.bin']);
    assert.equal(await savedKernelValue(sharded), 2);
    assert.deepEqual(temps(parent), []);
  } finally {
    one.dispose();
    two.dispose();
  }
});

test('writeDirAtomic replaces a folder that holds only files it writes (checkpoints) and refuses one with anything else', async () => {
  const parent = freshDir('generic');
  const target = path.join(parent, 'epoch-0003');
  const fill = (content: string) => async (tmp: string) => {
    await writeFileSynced(path.join(tmp, 'state.json'), content);
    await writeFileSynced(path.join(tmp, 'weights.bin'), content);
  };
  await writeDirAtomic(target, fill('first'));
  await writeDirAtomic(target, fill('second'));
  assert.equal(readFileSync(path.join(target, 'state.json'), 'utf8'), 'second');
  writeFileSync(path.join(target, 'mine.txt'), 'keep');
  await assert.rejects(writeDirAtomic(target, fill('third')), (e: Error) => e.message === `${target}: folder is not empty and is not something this program wrote (holds mine.txt)`);
  assert.deepEqual(readdirSync(target).sort(), ['mine.txt', 'state.json', 'weights.bin']);
  assert.equal(readFileSync(path.join(target, 'state.json'), 'utf8'), 'second');
  assert.deepEqual(temps(parent), []);
});

test('writeReport replaces an earlier report (even one with more charts) but not a folder with other files', async () => {
  const parent = freshDir('report');
  const dir = path.join(parent, 'report');
  const history: EpochRecord[] = [{ epoch: 1, loss: 1, acc: 0.5, val_loss: 1.1, val_acc: 0.4, lr: 0.01, time: 1, images_per_s: 10 }];
  const evaluation = { split: 'test', loss: 1, accuracy: 0.5, count: 2, confusion: [[1, 0], [1, 0]] };
  const full: ReportInput = { title: 't', classes: ['a', 'b'], history, evaluation };
  await writeReport(dir, full);
  assert.ok(existsSync(path.join(dir, 'confusion.png')));
  await writeReport(dir, { ...full, evaluation: undefined });
  assert.equal(existsSync(path.join(dir, 'confusion.png')), false);
  writeFileSync(path.join(dir, 'my-notes.md'), 'mine');
  await assert.rejects(writeReport(dir, full), /report: folder is not empty and is not a report \(holds my-notes\.md\)$/);
  assert.equal(readFileSync(path.join(dir, 'my-notes.md'), 'utf8'), 'mine');
  assert.ok(existsSync(path.join(dir, 'report.md')));
});

/** A saved tiny model for the CLI to convert. */
async function savedModelFolder(): Promise<string> {
  const m = path.join(root, 'cli-source');
  if (!existsSync(path.join(m, 'model.json'))) {
    const model = tinyDenseModel(3);
    await saveModel(model, m);
    model.dispose();
  }
  return m;
}

test('resnet convert --out <folder with other files> is refused with one line (exit 2), and the files survive', async () => {
  const src = await savedModelFolder();
  const parent = freshDir('cli-refuse');
  const victim = path.join(parent, 'victim');
  mkdirSync(victim);
  writeFileSync(path.join(victim, 'notes.txt'), 'my notes\n');
  const before = snapshot(parent);
  const r = await runCaptured(['convert', '--model', src, '--out', victim, '--backend', 'cpu']);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.err, `resnet: ${victim}: folder is not empty and is not a saved model (holds notes.txt); choose another --out\n`);
  assert.equal(r.out, '');
  assert.deepEqual(snapshot(parent), before);

  // '.' with files in it, and a path that is a file.
  const cwd = process.cwd();
  try {
    process.chdir(victim);
    const dot = await runCaptured(['convert', '--model', src, '--out', '.', '--backend', 'cpu']);
    assert.equal(dot.code, 2, dot.err);
    assert.match(dot.err, /^resnet: \.: .*; choose another --out\n$/);
  } finally {
    process.chdir(cwd);
  }
  const file = path.join(victim, 'notes.txt');
  const onFile = await runCaptured(['convert', '--model', src, '--out', file, '--backend', 'cpu']);
  assert.equal(onFile.code, 2, onFile.err);
  assert.equal(onFile.err, `resnet: ${file}: is a file, not a folder; choose another --out\n`);
  assert.deepEqual(snapshot(parent), before);
  assert.deepEqual(temps(parent), []);
});

test('resnet convert writes into an empty folder and over its own earlier output', async () => {
  const src = await savedModelFolder();
  const parent = freshDir('cli-accept');
  const out = path.join(parent, 'out');
  mkdirSync(out);
  for (let i = 0; i < 2; i++) {
    const r = await runCaptured(['convert', '--model', src, '--out', out, '--backend', 'cpu']);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(readdirSync(out).sort(), ['model.json', 'weights.bin']);
    assert.equal(await savedKernelValue(out), 3);
  }
});

test("removeStaleTemps removes only this program's temporaries, never a user's file that merely starts with .tmp-", async () => {
  const d = freshDir('stale');
  writeFileSync(path.join(d, '.tmp-notes'), 'mine');
  mkdirSync(path.join(d, '.tmp-my-folder'));
  writeFileSync(path.join(d, '.tmp-model.h5-123-0a1b2c3d'), 'left by a killed writer');
  mkdirSync(path.join(d, '.tmp-epoch-0002-77-deadbeef'));
  assert.deepEqual((await removeStaleTemps(d)).sort(), ['.tmp-epoch-0002-77-deadbeef', '.tmp-model.h5-123-0a1b2c3d']);
  assert.deepEqual(readdirSync(d).sort(), ['.tmp-my-folder', '.tmp-notes']);
});

test('makeFolder: creates missing parents one by one; a place it cannot create in is one error naming the folder, at once', { timeout: 20_000 }, async () => {
  const base = mkdtempSync(path.join(tmpdir(), 'resnet-mkfolder-'));
  try {
    const deep = path.join(base, 'a', 'b', 'c');
    await makeFolder(deep);
    await makeFolder(deep); // already there: fine
    assert.ok(existsSync(deep));
    const file = path.join(base, 'file');
    writeFileSync(file, 'x');
    await assert.rejects(makeFolder(path.join(file, 'sub')), (e: Error) => e.message === `${path.join(file, 'sub')}: cannot create folder: ${file} is not a folder`);
    // Node 20's own recursive mkdir never returns here.
    await assert.rejects(makeFolder('/proc/resnet-no-such/sub'), (e: Error) => e.message === '/proc/resnet-no-such/sub: cannot create folder: no such file or directory (ENOENT)');
    // The CLI says so in one line (plot needs no model).
    const r = await runCaptured(['plot', '--arch', 'resnet18', '--width-divisor', '32', '--input', '40,40,3', '--out', '/proc/resnet-no-such/x.svg']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err.trim().split('\n'), ['resnet: /proc/resnet-no-such/x.svg: cannot write: cannot create the folder /proc/resnet-no-such: no such file or directory (ENOENT)']);
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});

test("saveModel without metadata keeps the model's own (its class names); an explicit argument wins where both say", async () => {
  const parent = freshDir('own-metadata');
  const model = tinyDenseModel(1);
  model.setUserDefinedMetadata({ classes: ['cat', 'dog'], arch: 'dense' });
  const stored = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'model.json'), 'utf8')).userDefinedMetadata;
  try {
    const own = path.join(parent, 'own');
    await saveModel(model, own);
    assert.deepEqual(stored(own), { classes: ['cat', 'dog'], arch: 'dense' });
    const loaded = await loadModel(own);
    try {
      assert.deepEqual(modelMetadata(loaded).classes, ['cat', 'dog']);
    } finally {
      loaded.dispose();
    }

    const explicit = path.join(parent, 'explicit');
    await saveModel(model, explicit, { classes: ['left', 'right'] });
    assert.deepEqual(stored(explicit), { classes: ['left', 'right'], arch: 'dense' });
    // The model itself is not changed by what a save was told.
    assert.deepEqual(model.getUserDefinedMetadata(), { classes: ['cat', 'dog'], arch: 'dense' });
  } finally {
    model.dispose();
  }
});
