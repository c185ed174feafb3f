/**
 * `train --input` and `demo --input` that no training can use (too small for the network, a channel count the data
 * layer does not deliver) are usage errors, exit 2, as in `summary`, before anything is read or created.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { checkInputOption } from '../src/cli/commands/train.js';
import { minimumInputSize } from '../src/model/index.js';
import { runCaptured } from './cli-helpers.js';
import { SIGNS_TRAIN, tempDir } from './train-fixtures.js';

const { dir: work, cleanup } = tempDir('resnet-cli-train-input-');
test.after(cleanup);

test('train and demo: an --input too small for the network or of 4 channels exits 2 in one line; nothing is created', async () => {
  const out = join(work, 'run');
  const tooSmall = 'input 32x32 is too small for resnet50; the smallest input that works is 37x37';
  const cases: [string[], string][] = [
    [['train', '--data', SIGNS_TRAIN, '--input', '32,32,3', '--out', out], `--input 32,32,3: ${tooSmall}`],
    [['train', '--data', SIGNS_TRAIN, '--input', '64,36,1', '--arch', 'resnet18', '--out', out], '--input 64,36,1: input 64x36 is too small for resnet18'],
    [['train', '--data', SIGNS_TRAIN, '--input', '64,64,4', '--out', out], '--input 64,64,4: 4 channels; only 1 (grayscale) or 3 (RGB) are supported'],
    [['demo', '--input', '32,32,3', '--out', out], `--input 32,32,3: ${tooSmall}`],
    [['demo', '--input', '40,40,2', '--out', out], '--input 40,40,2: 2 channels; only 1 (grayscale) or 3 (RGB) are supported'],
  ];
  for (const [argv, message] of cases) {
    const r = await runCaptured([...argv, '--backend', 'cpu']);
    assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err}`);
    assert.equal(r.out, '');
    const lines = r.err.split('\n').filter((l) => l !== '');
    assert.equal(lines.length, 1, r.err);
    assert.ok(lines[0].startsWith(`resnet: ${message}`), lines[0]);
    assert.ok(!existsSync(out), 'no run folder');
  }
  // summary says the same input is too small, with the same exit code.
  assert.equal((await runCaptured(['summary', '--input', '32,32,3'])).code, 2);
});

test('checkInputOption: the smallest input that works and 1 or 3 channels pass', () => {
  const min = minimumInputSize(true);
  assert.equal(min, 37, 'the spec: stage 5 at least 2x2 for the 2x2 avg_pool');
  for (const input of [[min, min, 3], [min, 200, 1], [64, 64, 3]] as [number, number, number][]) {
    assert.doesNotThrow(() => checkInputOption('resnet50', input), input.join(','));
  }
  assert.doesNotThrow(() => checkInputOption('resnet50', undefined));
  assert.throws(() => checkInputOption('resnet152', [min - 1, 64, 3]), /input 36x64 is too small for resnet152/);
});
