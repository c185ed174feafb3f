/**
 * The CLI's output through a pipe: all of it reaches a reader that takes it only after the command has finished
 * (beyond the pipe's 64 KiB buffer), and a reader that stops early (`| head`) ends the command quietly.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

import { CLI } from './train-fixtures.js';

/** `resnet summary --arch resnet152`: a summary of about 120 KB, larger than a pipe holds. */
const COMMAND = `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} summary --arch resnet152`;

test('output larger than a pipe holds reaches a reader that starts reading after the command ended', () => {
  const direct = execFileSync(process.execPath, [CLI, 'summary', '--arch', 'resnet152'], { encoding: 'utf8', maxBuffer: 1 << 24 });
  assert.ok(Buffer.byteLength(direct) > 65536, `the summary is ${Buffer.byteLength(direct)} bytes`);
  // The reader sleeps first, so the command has written all it can and exited before anything is read.
  const counted = execFileSync('bash', ['-c', `${COMMAND} | (sleep 1; wc -c)`], { encoding: 'utf8' });
  assert.equal(Number(counted.trim()), Buffer.byteLength(direct));
});

test('a reader that stops early (head) ends the command with exit code 0 and nothing on stderr', () => {
  const out = execFileSync('bash', ['-c', `set -o pipefail; err=$(mktemp); ${COMMAND} 2>"$err" | head -1; echo "rc=$?"; cat "$err"; rm -f "$err"`], { encoding: 'utf8' });
  assert.equal(out, 'Model: "ResNet152"\nrc=0\n');
});
