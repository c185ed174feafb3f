/**
 * The `resnet` CLI as a user meets it: every commander error on one `resnet:` line with exit code 2, `--version`,
 * examples in the help, Ctrl-C (SIGINT) and SIGTERM during training (terminal restored, one line naming the
 * checkpoint to resume from, exit 130 / 143), `predict` on a folder, `evaluate`'s note on an ignored `--split` and the
 * checkpoint it loaded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { formatCommanderError } from '../src/cli/main.js';
import { DEMO_DEFAULTS } from '../src/train/index.js';
import { runCaptured } from './cli-helpers.js';
import { CLI, REPO_ROOT, SIGNS_TEST, SIGNS_TRAIN, TEST_BACKEND, tempDir } from './train-fixtures.js';

const { dir: work, cleanup } = tempDir('resnet-cli-ux-');
test.after(cleanup);

/** What an in-process run printed, and its exit code. */
type CliResult = Awaited<ReturnType<typeof runCaptured>>;

const tiny = ['--input', '40,40,3', '--arch', 'resnet18', '--width-divisor', '32', '--backend', TEST_BACKEND];

/** The non-empty lines of a text. */
function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Asserts a run that failed with exactly one line on stderr (besides `backend:`), `resnet: ...` matching `pattern`. */
function assertOneLine(r: CliResult, code: number, pattern: RegExp, what: string): void {
  assert.equal(r.code, code, `${what}: exit code; stderr: ${r.err}`);
  assert.equal(r.out, '', `${what}: nothing on stdout`);
  const errLines = lines(r.err).filter((l) => !l.startsWith('backend: '));
  assert.equal(errLines.length, 1, `${what}: one line; stderr: ${r.err}`);
  assert.match(errLines[0], /^resnet: /, what);
  assert.match(errLines[0], pattern, what);
}

test('commander errors: one line, resnet: prefix, the command help named, exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['train', '--epochs', '-1'], /^resnet: --epochs: expected a positive integer, got '-1' \(see resnet train --help\)$/],
    [['train', '--epochs'], /^resnet: option '--epochs <n>' argument missing \(see resnet train --help\)$/],
    [['train', '--bogus'], /^resnet: unknown option '--bogus' \(see resnet train --help\)$/],
    [['train', '--epoch', '3'], /^resnet: unknown option '--epoch' \(Did you mean --epochs\?\) \(see resnet train --help\)$/],
    [['evaluate', '--data', SIGNS_TEST], /^resnet: required option '--model <\w+>' not specified \(see resnet evaluate --help\)$/],
    [['predict', '--model', work], /^resnet: missing required argument 'image' \(see resnet predict --help\)$/],
    [['summary', '--arch', 'resnet49'], /^resnet: --arch 'resnet49': Allowed choices are resnet18, resnet34, resnet50, resnet101, resnet152 \(see resnet summary --help\)$/],
    [['demo', '--input', '40,40'], /^resnet: --input: expected height,width,channels such as 64,64,3, got '40,40' \(see resnet demo --help\)$/],
    [['trian'], /^resnet: unknown command 'trian' \(Did you mean train\?\) \(see resnet --help\)$/],
    [['--bogus'], /^resnet: unknown option '--bogus' \(see resnet --help\)$/],
  ];
  for (const [argv, pattern] of cases) assertOneLine(await runCaptured(argv), 2, pattern, argv.join(' '));
});

test('formatCommanderError joins a multi-line message into one line', () => {
  assert.equal(formatCommanderError("error: unknown command 'trian'\n(Did you mean train?)"), "unknown command 'trian' (Did you mean train?)");
  assert.equal(formatCommanderError("error: option '-b, --batch-size <n>' argument 'x' is invalid. expected a positive integer"), "--batch-size 'x': expected a positive integer");
});

test('resnet without a command: the help on stderr, exit 2; --version prints package.json\'s version', async () => {
  const bare = await runCaptured([]);
  assert.equal(bare.code, 2);
  assert.equal(bare.out, '');
  assert.match(bare.err, /^Usage: resnet \[options\] \[command\]/);
  assert.match(bare.err, /^ {2}train \[options\]/m);

  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runCaptured([flag]);
    assert.equal(r.code, 0, flag);
    assert.equal(r.out, `${version}\n`, flag);
  }
  // A spawned `resnet --version` exits 0 too.
  const spawned = spawnSync(process.execPath, [CLI, '--version'], { encoding: 'utf8' });
  assert.equal(spawned.status, 0);
  assert.equal(spawned.stdout, `${version}\n`);
});

/** Asserts that `resnet <argv> --help` ends with an Examples section of at least two `resnet <command>` lines. */
async function assertExamples(argv: string[]): Promise<string> {
  const r = await runCaptured([...argv, '--help']);
  const what = ['resnet', ...argv].join(' ');
  assert.equal(r.code, 0, what);
  const at = r.out.indexOf('\nExamples:\n');
  assert.ok(at >= 0, `${what}: an Examples section`);
  const examples = lines(r.out.slice(at)).slice(1).filter((l) => !l.startsWith('Run resnet'));
  assert.ok(examples.length >= 2, `${what}: at least two examples`);
  for (const l of examples) assert.match(l, new RegExp(`^ {2}resnet ${argv[0] ?? '[a-z]+'}\\b`), `${what}: ${l}`);
  for (const l of lines(r.out)) assert.ok(l.length <= 80, `${what}: a line over 80 columns: ${l}`);
  return r.out;
}

/** Asserts that a command's help shows `--model <path>` with the three kinds of model path. */
async function assertModelOption(name: string): Promise<void> {
  const help = (await runCaptured([name, '--help'])).out;
  assert.match(help, /^ {2}--model <path> /m, name);
  assert.match(
    help.replace(/\s+/g, ' '),
    /--model <path> a saved model folder \(model\.json\), a training run folder \(its latest or --checkpoint best checkpoint\) or a Keras \.h5 file/,
    name,
  );
}

test('help: the program lists examples and -V, --version', async () => {
  const out = await assertExamples([]);
  assert.match(out, /^ {2}-V, --version/m);
});

test('help: examples for train, demo and summary; demo shows its --input default once', async () => {
  for (const name of ['train', 'demo', 'summary']) await assertExamples([name]);
  const demo = (await runCaptured(['demo', '--help'])).out.replace(/\s+/g, ' ');
  const shape = DEMO_DEFAULTS.inputShape;
  assert.match(demo, new RegExp(`--input <h,w,c> input shape \\(the 28x28 images are resized to it\\) \\(default: ${shape.join(',')}\\)`));
  assert.equal(demo.split(shape.join(',')).length - 1, 1, `the default shape is shown once:\n${demo}`);
  assert.ok(!demo.includes(shape.join('x')), `and not again as ${shape.join('x')}`);
});
