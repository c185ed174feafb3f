/**
 * scripts/signs-accuracy.sh end to end, shortened: one epoch of the full ResNet-50 on the real SIGNS training set,
 * then the evaluation of the run's final checkpoint on the test set, with the script's own pass/fail line. (The real
 * check runs 20 epochs per seed and takes minutes; see the README.) Also its refusal of a bad setting.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts', 'signs-accuracy.sh');
const DATA = join(ROOT, '..', 'shared', 'data', 'signs');
const SKIP = existsSync(join(DATA, 'train_signs.h5')) ? false : `SIGNS data not found at ${DATA}`;

/** Runs the script with these settings (environment) and returns its exit code and output. */
function runScript(settings: Record<string, string>): { code: number | null; out: string; err: string } {
  const r = spawnSync('bash', [SCRIPT], { env: { ...process.env, ...settings }, encoding: 'utf8', timeout: 300_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('scripts/signs-accuracy.sh', { skip: SKIP }, () => {
  test('one epoch: trains, evaluates the final checkpoint on the test set and prints its result line', () => {
    const out = mkdtempSync(join(tmpdir(), 'signs-script-'));
    try {
      const r = runScript({ SEEDS: '0', EPOCHS: '1', PRECISE_BN: '1', MIN_ACCURACY: '0', OUT_ROOT: out });
      assert.equal(r.code, 0, r.err + r.out);
      assert.match(r.out, /seed=0 test_accuracy=0\.\d{4} test_loss=\d+\.\d{4} n=120 train_s=\d+ total_s=\d+ PASS/);
      assert.match(r.err, /seed 0: evaluated .*seed-0 \(final checkpoint\)/);
      const evaluation = JSON.parse(readFileSync(join(out, 'seed-0', 'test-eval.json'), 'utf8')) as { count: number; accuracy: number };
      assert.equal(evaluation.count, 120);
      assert.ok(evaluation.accuracy >= 0 && evaluation.accuracy <= 1);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test('a bad CHECKPOINT setting is refused with exit code 2 before any training', () => {
    const r = runScript({ CHECKPOINT: 'latest' });
    assert.equal(r.code, 2);
    assert.match(r.err, /^signs-accuracy: CHECKPOINT must be final or best, not 'latest'$/m);
  });
});
