/**
 * `--model` resolution: a training run folder means its latest checkpoint, or its best one with `--checkpoint best`;
 * a saved model folder means itself.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { BEST_FILE, CHECKPOINTS_DIR, LATEST_FILE, MODEL_JSON, resolveModelDir, STATE_JSON } from '../src/train/index.js';

test('resolveModelDir: a run folder gives its latest checkpoint by default and its best one on request', async () => {
  const run = mkdtempSync(join(tmpdir(), 'resnet-resolve-'));
  try {
    const root = join(run, CHECKPOINTS_DIR);
    for (const name of ['epoch-0001', 'epoch-0002', 'epoch-0003']) {
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, STATE_JSON), '{}');
      writeFileSync(join(root, name, MODEL_JSON), '{}');
    }
    assert.match(await resolveModelDir(run).catch((e: Error) => e.message), /no complete latest checkpoint yet/);
    writeFileSync(join(root, LATEST_FILE), 'epoch-0003\n');
    assert.match(await resolveModelDir(run, 'best').catch((e: Error) => e.message), /no complete best checkpoint yet/);
    writeFileSync(join(root, BEST_FILE), 'epoch-0002\n');
    assert.equal(await resolveModelDir(run), join(root, 'epoch-0003'));
    assert.equal(await resolveModelDir(run, 'latest'), join(root, 'epoch-0003'));
    assert.equal(await resolveModelDir(run, 'best'), join(root, 'epoch-0002'));
    // A saved model folder is itself, whichever checkpoint is asked for.
    assert.equal(await resolveModelDir(join(root, 'epoch-0001'), 'best'), join(root, 'epoch-0001'));
  } finally {
    rmSync(run, { recursive: true, force: true });
  }
});
