/**
 * Output writes that fail for real after the command made the folders for them (`plot --out`, `convert --out` to a
 * `.h5` file or a model folder): one line naming the file, exit 1, and the folders the command created are gone while
 * the ones that were there before stay; the same for training interrupted before its first checkpoint. Also
 * `makeFolder`'s report of what it created, `missingFoldersSync`, `removeCreatedFolders` and `listNames`.
 *
 * The failing write: a final name of 250 characters is a valid name, but the temporary name written beside it first
 * (`.tmp-<name>-<pid>-<hex>`) is over the file system's 255, so the write fails with ENAMETOOLONG after the folders
 * were made, as a full disk or a lost mount would.
 *
 * Also `writeFileAtomic`'s failures (the file named, not its temporary), and `train --resume` of a run folder the user
 * may not write to.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { interruptedTraining } from '../src/cli/commands/train.js';
import { FileWriteError, FolderError, fsErrorReason, makeFolder, missingFoldersSync, removeCreatedFolders, writeFileAtomic } from '../src/train/fsutil.js';
import { listNames } from '../src/data/errors.js';
import { saveModel, silentReporter, trackProgress } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { CLI, SIGNS_TRAIN, tempDir, tinyResNet } from './train-fixtures.js';

const { dir: work, cleanup } = tempDir('resnet-cli-errors-');
test.after(cleanup);

/** A file name of 250 characters ending in `ext`: valid, but too long for the temporary name beside it. */
function longName(ext: string): string {
  return 'n'.repeat(250 - ext.length) + ext;
}

/** A fresh, empty folder under the test's temporary folder: the pre-existing parent of an output. */
function freshParent(name: string): string {
  const dir = path.join(work, name);
  mkdirSync(dir);
  return dir;
}

/** Asserts a run that failed with exit 1 and one `resnet: <file>: ...` line matching `reason`. */
function assertWriteFailure(r: Awaited<ReturnType<typeof runCaptured>>, file: string, reason: RegExp): void {
  assert.equal(r.code, 1, r.err);
  assert.equal(r.out, '');
  const lines = r.err.split('\n').filter((l) => l !== '' && !l.startsWith('backend: '));
  assert.equal(lines.length, 1, r.err);
  assert.ok(lines[0].startsWith(`resnet: ${file}: `), lines[0]);
  assert.match(lines[0], reason);
}

test('listNames: up to four names in full, else three and how many more (the refusals of train, convert and saveModel)', () => {
  assert.equal(listNames([]), '');
  assert.equal(listNames(['notes.txt']), 'notes.txt');
  assert.equal(listNames(['a', 'b', 'c', 'd']), 'a, b, c, d');
  assert.equal(listNames(['a', 'b', 'c', 'd', 'e']), 'a, b, c and 2 more');
  assert.equal(listNames(['z/', 'y', 'x', 'w', 'v', 'u']), 'z/, y, x and 3 more', 'in the order given');
});

test('makeFolder reports the folders it created, outermost first; none for an existing folder', async () => {
  const parent = freshParent('make');
  const deep = path.join(parent, 'a', 'b', 'c');
  assert.deepEqual(await makeFolder(deep), [path.join(parent, 'a'), path.join(parent, 'a', 'b'), deep]);
  assert.ok(existsSync(deep));
  assert.deepEqual(await makeFolder(deep), []);
  assert.deepEqual(await makeFolder(path.join(parent, 'a', 'd')), [path.join(parent, 'a', 'd')]);
});

test('makeFolder that fails part-way removes the folders it had made; removeCreatedFolders keeps non-empty ones', async () => {
  const parent = freshParent('partial');
  // 'made' can be created, the 300-character name below it cannot.
  const bad = path.join(parent, 'made', 'x'.repeat(300), 'leaf');
  await assert.rejects(makeFolder(bad), (err: unknown) => err instanceof FolderError && /ENAMETOOLONG/.test(err.reason));
  assert.deepEqual(readdirSync(parent), []);

  const created = await makeFolder(path.join(parent, 'p', 'q', 'r'));
  writeFileSync(path.join(parent, 'p', 'q', 'kept.txt'), 'written meanwhile\n');
  await removeCreatedFolders(created);
  // r was empty and goes; q holds a file and stays, and so does p above it.
  assert.deepEqual(readdirSync(path.join(parent, 'p', 'q')), ['kept.txt']);
  assert.deepEqual(readdirSync(parent), ['p']);
});

test('plot: a write that fails after its folders were made removes those folders, not the ones that were there', async () => {
  const parent = freshParent('plot');
  mkdirSync(path.join(parent, 'existing'));
  for (const file of [path.join(parent, 'new', 'sub', longName('.svg')), path.join(parent, 'existing', 'new', longName('.png'))]) {
    const r = await runCaptured(['plot', '--out', file, '--arch', 'resnet18', '--width-divisor', '32', '--input', '40,40,3']);
    assertWriteFailure(r, file, /cannot write: name too long \(ENAMETOOLONG\)$/);
  }
  assert.deepEqual(readdirSync(parent), ['existing']);
  assert.deepEqual(readdirSync(path.join(parent, 'existing')), []);
});

test('convert: an .h5 or model-folder write that fails after its folders were made removes those folders', async () => {
  const model = tinyResNet();
  const source = path.join(work, 'source-model');
  await saveModel(model, source);
  model.dispose();
  const parent = freshParent('convert');
  mkdirSync(path.join(parent, 'existing'));
  const cases: [string, RegExp][] = [
    [path.join(parent, 'new', 'sub', longName('.h5')), /cannot write the Keras HDF5 file: name too long \(ENAMETOOLONG\)$/],
    [path.join(parent, 'existing', 'new', longName('.h5')), /ENAMETOOLONG/],
    [path.join(parent, 'new', 'sub', longName('')), /ENAMETOOLONG/],
  ];
  for (const [out, reason] of cases) {
    assertWriteFailure(await runCaptured(['convert', '--model', source, '--out', out, '--backend', 'cpu']), out, reason);
  }
  assert.deepEqual(readdirSync(parent), ['existing']);
  assert.deepEqual(readdirSync(path.join(parent, 'existing')), []);

  // A model that cannot be read fails before any folder is made.
  const notModel = path.join(work, 'not-a-model.h5');
  writeFileSync(notModel, 'not HDF5\n');
  const r = await runCaptured(['convert', '--model', notModel, '--out', path.join(parent, 'new', 'model.h5'), '--backend', 'cpu']);
  assertWriteFailure(r, notModel, /./);
  assert.deepEqual(readdirSync(parent), ['existing']);
});

test('missingFoldersSync: the folders makeFolder would create, outermost first', async () => {
  const parent = freshParent('missing');
  const out = path.join(parent, 'a', 'b', 'run');
  const missing = missingFoldersSync(out);
  assert.deepEqual(missing, [path.join(parent, 'a'), path.join(parent, 'a', 'b'), out]);
  assert.deepEqual(await makeFolder(out), missing);
  assert.deepEqual(missingFoldersSync(out), []);
});

test('interrupted training before its first checkpoint removes the run folder and the parents it made, not others', () => {
  const parent = freshParent('interrupted');
  const out = path.join(parent, 'a', 'b', 'run');
  const created = missingFoldersSync(out);
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'log.csv'), 'epoch\n');
  assert.equal(
    interruptedTraining(trackProgress(silentReporter), out, created, 'resume it'),
    `interrupted before training started; no checkpoint yet, so ${out} was removed, with the folders made for it`,
  );
  assert.deepEqual(readdirSync(parent), [], 'a/b/run, a/b and a are gone');

  // A parent that holds something else by then stays, and so do the ones above it.
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(parent, 'a', 'notes.txt'), 'mine');
  assert.equal(
    interruptedTraining(trackProgress(silentReporter), out, created, 'resume it'),
    `interrupted before training started; no checkpoint yet, so ${out} was removed, with the folders made for it`,
  );
  assert.deepEqual(readdirSync(path.join(parent, 'a')), ['notes.txt'], 'a/b is gone, a/ stays');

  // A run folder that was there before the command is left.
  mkdirSync(out, { recursive: true });
  assert.equal(interruptedTraining(trackProgress(silentReporter), out, [], 'resume it'), `interrupted before training started; no checkpoint in ${out} yet`);
  assert.ok(existsSync(out));
});

test('writeFileAtomic: a failed write names the file, not the temporary beside it, and leaves no temporary', async () => {
  const parent = freshParent('atomic');
  const file = path.join(parent, longName('.csv'));
  await assert.rejects(writeFileAtomic(file, 'x\n'), (err: unknown) => {
    assert.ok(err instanceof FileWriteError);
    assert.equal(err.message, `${file}: cannot write: name too long (ENAMETOOLONG)`);
    assert.equal(fsErrorReason(err), 'name too long (ENAMETOOLONG)', 'callers that add the file name get the reason alone');
    return true;
  });
  assert.deepEqual(readdirSync(parent), []);
});

test('train --resume of a run the user may not write to: one line naming log.csv and the reason, exit 1, run unchanged', async () => {
  const parent = freshParent('read-only-run');
  const run = path.join(parent, 'run');
  const tiny = ['--input', '40,40,3', '--arch', 'resnet18', '--width-divisor', '32', '--backend', 'cpu'];
  const first = await runCaptured(['train', '--data', SIGNS_TRAIN, '--limit', '16', '--val-split', '0', '--batch-size', '8', '--epochs', '1', '--out', run, ...tiny]);
  assert.equal(first.code, 0, first.err);
  const before = readdirSync(run).sort();
  // As root, the resume runs as nobody (uid 65534), for whom the root-owned run folder is read-only (root may write
  // anywhere); as another user, the run folder is made read-only for its owner.
  const asRoot = process.getuid?.() === 0;
  chmodSync(work, 0o755); // mkdtemp made it 0700: nobody must reach the run (and read it)
  if (!asRoot) chmodSync(run, 0o555);
  try {
    const r = spawnSync(process.execPath, [CLI, 'train', '--out', run, '--resume', '--epochs', '2', '--backend', 'cpu'], {
      encoding: 'utf8',
      timeout: 60_000,
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
    });
    assert.equal(r.status, 1, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('resnet: '));
    assert.deepEqual(errors, [`resnet: ${path.join(run, 'log.csv')}: cannot write: permission denied (EACCES)`], r.stderr);
  } finally {
    if (!asRoot) chmodSync(run, 0o755);
  }
  assert.deepEqual(readdirSync(run).sort(), before, 'nothing left in the run folder');
});
