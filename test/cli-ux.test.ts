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
import { describePosition } from '../src/cli/commands/train.js';
import { CliError, untilInterrupted } from '../src/cli/common.js';
import { formatCommanderError } from '../src/cli/main.js';
import { DEMO_DEFAULTS, streamReporter, trackProgress, type EpochRecord, type ProgressReporter } from '../src/train/index.js';
import { fakeTerminal, runCaptured } from './cli-helpers.js';
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
    [['summary', '--arch', 'resnet49'], /^resnet: --arch 'resnet49': allowed choices are resnet18, resnet34, resnet50, resnet101, resnet152 \(see resnet summary --help\)$/],
    [['train', '--backend', 'foo'], /^resnet: --backend 'foo': allowed choices are auto, onednn, cpu \(see resnet train --help\)$/],
    [['plot', '--out', 'x.svg', '--rankdir', 'BT'], /^resnet: --rankdir 'BT': allowed choices are TB, LR \(see resnet plot --help\)$/],
    [['demo', '--input', '40,40'], /^resnet: --input: expected height,width,channels such as 64,64,3, got '40,40' \(see resnet demo --help\)$/],
    [['trian'], /^resnet: unknown command 'trian' \(Did you mean train\?\) \(see resnet --help\)$/],
    [['--bogus'], /^resnet: unknown option '--bogus' \(see resnet --help\)$/],
  ];
  for (const [argv, pattern] of cases) assertOneLine(await runCaptured(argv), 2, pattern, argv.join(' '));
});

test('an unknown command is one line and exit 2, with or without a help request; help for known commands exits 0', async () => {
  const unknown = /^resnet: unknown command 'bogus' \(see resnet --help\)$/;
  for (const argv of [['bogus'], ['bogus', '--help'], ['bogus', '-h'], ['--help', 'bogus'], ['help', 'bogus'], ['bogus', '--epochs', '3', '--help']]) {
    assertOneLine(await runCaptured(argv), 2, unknown, argv.join(' '));
  }
  // commander's suggestion stays on the same line.
  assertOneLine(await runCaptured(['trian', '--help']), 2, /^resnet: unknown command 'trian' \(Did you mean train\?\) \(see resnet --help\)$/, 'trian --help');
  for (const [argv, usage] of [
    [['--help'], /^Usage: resnet \[options\] \[command\]/],
    [['help'], /^Usage: resnet \[options\] \[command\]/],
    [['help', 'train'], /^Usage: resnet train \[options\]/],
    [['train', '--help'], /^Usage: resnet train \[options\]/],
    [['train', '-h'], /^Usage: resnet train \[options\]/],
  ] as [string[], RegExp][]) {
    const r = await runCaptured(argv);
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err}`);
    assert.equal(r.err, '', argv.join(' '));
    assert.match(r.out, usage, argv.join(' '));
  }
});

test('formatCommanderError joins a multi-line message into one line', () => {
  assert.equal(formatCommanderError("error: unknown command 'trian'\n(Did you mean train?)"), "unknown command 'trian' (Did you mean train?)");
  assert.equal(formatCommanderError("error: option '-b, --batch-size <n>' argument 'x' is invalid. expected a positive integer"), "--batch-size 'x': expected a positive integer");
  // commander's own reasons start with a capital; in mid-sentence they read lower-case. Capitalised words stay.
  assert.equal(
    formatCommanderError("error: option '--backend <name>' argument 'foo' is invalid. Allowed choices are auto, onednn, cpu."),
    "--backend 'foo': allowed choices are auto, onednn, cpu",
  );
  assert.equal(formatCommanderError("error: option '--data <path>' argument 'x' is invalid. HDF5 file expected"), "--data 'x': HDF5 file expected");
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
    /--model <path> a saved model folder \(model\.json\), a training run folder \(its latest or --checkpoint best checkpoint\) or a Keras \.h5\/\.hdf5 file/,
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

const HIDE_CURSOR = '\x1B[?25l';
const SHOW_CURSOR = '\x1B[?25h';
const NO_WRAP = '\x1B[?7l';
const WRAP = '\x1B[?7h';

test('a live bar stopped mid-epoch gives the terminal its cursor and line wrapping back; a closed reporter stays quiet', () => {
  const term = fakeTerminal(100);
  const reporter = trackProgress(streamReporter(term, true));
  assert.deepEqual(reporter.position, { finished: false });
  reporter.start(3, 5, 10);
  reporter.step(1.5, 0.25, 100);
  assert.ok(term.text().includes(HIDE_CURSOR) && term.text().includes(NO_WRAP), 'the bar hid the cursor and turned line wrapping off');
  assert.ok(!term.text().includes(SHOW_CURSOR) && !term.text().includes(WRAP), 'not restored yet');
  assert.deepEqual(reporter.position, { finished: false, running: 3, epochs: 5 });

  reporter.close();
  assert.ok(term.text().lastIndexOf(SHOW_CURSOR) > term.text().lastIndexOf(HIDE_CURSOR), 'cursor shown again');
  assert.ok(term.text().lastIndexOf(WRAP) > term.text().lastIndexOf(NO_WRAP), 'line wrapping on again');
  const after = term.text().length;
  // The abandoned trainer may still call the reporter before the process exits: nothing more reaches the terminal.
  reporter.step(1.4, 0.3, 100);
  reporter.message('late');
  reporter.start(4, 5, 10);
  reporter.stop();
  assert.equal(term.text().length, after);
});

test('trackProgress follows the epochs, and describePosition says where training was', () => {
  const calls: string[] = [];
  const inner: ProgressReporter = {
    message: (l) => calls.push(`message ${l}`),
    start: (e, n, s) => calls.push(`start ${e} ${n} ${s}`),
    step: () => calls.push('step'),
    end: (r) => calls.push(`end ${r.epoch}`),
    stop: () => calls.push('stop'),
  };
  const reporter = trackProgress(inner);
  assert.equal(describePosition(reporter.position), 'before training started');
  reporter.message('backend: cpu');
  reporter.start(2, 3, 4);
  reporter.step(1, 0.5, 10);
  assert.equal(describePosition(reporter.position), 'during epoch 2');
  reporter.end({ epoch: 2 } as EpochRecord);
  assert.equal(describePosition(reporter.position), 'during epoch 3', 'between epochs: the next one is being prepared');
  reporter.start(3, 3, 4);
  reporter.end({ epoch: 3 } as EpochRecord);
  assert.equal(describePosition(reporter.position), 'after epoch 3');
  reporter.stop();
  assert.equal(describePosition(reporter.position), 'after its last epoch (3)');
  assert.deepEqual(calls, ['message backend: cpu', 'start 2 3 4', 'step', 'end 2', 'start 3 3 4', 'end 3', 'stop']);
  assert.equal(describePosition({ finished: false, ended: 2, epochs: 2 }), 'after epoch 2');
});

test('untilInterrupted: SIGINT rejects with exit code 130, SIGTERM with 143, and the handlers go away', async () => {
  const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    const seen: string[] = [];
    const pending = untilInterrupted(() => new Promise<never>(() => {}), (s) => {
      seen.push(s);
      return `interrupted by ${s}`;
    });
    assert.equal(process.listenerCount(signal), before[signal === 'SIGINT' ? 0 : 1] + 1);
    process.emit(signal, signal);
    await assert.rejects(pending, (err: unknown) => err instanceof CliError && err.exitCode === code && err.message === `interrupted by ${signal}`);
    assert.deepEqual(seen, [signal]);
    assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
  }
  assert.equal(await untilInterrupted(async () => 42, () => 'never'), 42);
  assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
});

interface Spawned {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the signal to the exit. */
  latency: number;
}

/** Runs `resnet <args>` and sends it `signal` once its stderr matches `when`. */
function interruptWhen(args: string[], when: RegExp, signal: NodeJS.Signals): Promise<Spawned> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let sentAt: number | undefined;
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (sentAt === undefined && when.test(stderr)) {
      sentAt = performance.now();
      child.kill(signal);
    }
  });
  return new Promise((resolve) => {
    child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr, latency: performance.now() - (sentAt ?? NaN) }));
  });
}

/** Runs `resnet <args>` to completion. */
function resnet(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const run = join(work, 'run');
/** Time of the interrupted process to exit after SIGINT, and the length of a whole (warm) epoch, in ms. */
let interruptLatency = NaN;
let warmEpochMs = NaN;

test('Ctrl-C during epoch 2 of resnet train: exit 130, one line naming the last checkpoint; --resume continues from it', async () => {
  // 480 images in batches of 8: 60 steps an epoch. The epoch line is printed after the epoch's checkpoint is written.
  const args = ['train', '--data', SIGNS_TRAIN, '--limit', '480', '--val-split', '0', '--batch-size', '8', '--epochs', '3', '--out', run, ...tiny];
  const r = await interruptWhen(args, /^epoch 1\/3 /m, 'SIGINT');
  assert.equal(r.signal, null, 'the process exited by itself, not killed by the signal');
  assert.equal(r.code, 130, r.stderr);
  assert.equal(r.stdout, '');
  const errLines = lines(r.stderr).filter((l) => l.startsWith('resnet: '));
  assert.deepEqual(errLines, [
    `resnet: interrupted during epoch 2; the last checkpoint is ${join(run, 'checkpoints', 'epoch-0001')} (report: ${join(run, 'report', 'report.md')}): continue with resnet train --out ${run} --resume`,
  ]);
  // The report named there is epoch 1's, written before epoch 1's line showed.
  assert.match(readFileSync(join(run, 'report', 'report.md'), 'utf8'), /^\| 1( \(best\))? \|/m);
  assert.equal(lines(r.stderr).at(-1), errLines[0], 'the last thing said');
  assert.equal(readFileSync(join(run, 'checkpoints', 'latest'), 'utf8').trim(), 'epoch-0001');
  interruptLatency = r.latency;

  const resumed = resnet(['train', '--out', run, '--resume', '--backend', TEST_BACKEND]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stderr, /resuming from .*epoch-0001 \(epoch 1 of 3\)/);
  assert.match(resumed.stdout, /^epochs: 3$/m);
  assert.match(resumed.stdout, new RegExp(`^checkpoint: ${join(run, 'checkpoints', 'epoch-0003')}$`, 'm'));
  const epoch3 = /^epoch 3\/3 loss \S+ acc \S+ (\d+\.\d)s\b/m.exec(resumed.stderr);
  assert.ok(epoch3 !== null, resumed.stderr);
  warmEpochMs = Number(epoch3[1]) * 1000;
});

test(
  'Ctrl-C stops training within a few steps, not at the end of the epoch',
  () => {
    // Measured in the same run, so a slow machine slows both: stopping takes a step or two (5-10% of an epoch here),
    // waiting for the epoch's end would take all of it.
    assert.ok(Number.isFinite(interruptLatency) && Number.isFinite(warmEpochMs));
    assert.ok(interruptLatency < warmEpochMs / 2, `exited ${interruptLatency.toFixed(0)} ms after SIGINT; a whole epoch takes ${warmEpochMs} ms`);
  },
);

test('SIGTERM before the first checkpoint: exit 143, and the run folder this command created is removed', async () => {
  const fresh = join(work, 'fresh');
  const args = ['train', '--data', SIGNS_TRAIN, '--limit', '480', '--val-split', '0', '--batch-size', '8', '--epochs', '2', '--out', fresh, '--resume', ...tiny];
  // The message comes once the run folder exists, before epoch 1's 60 steps.
  const r = await interruptWhen(args, /^no checkpoint in .* yet: starting from scratch$/m, 'SIGTERM');
  assert.equal(r.code, 143, r.stderr);
  assert.deepEqual(lines(r.stderr).filter((l) => l.startsWith('resnet: ')), [`resnet: interrupted before training started; no checkpoint yet, so ${fresh} was removed`]);
  assert.equal(existsSync(fresh), false);
});

test('evaluate help: --model <path> names every kind of model; examples', async () => {
  await assertModelOption('evaluate');
  await assertExamples(['evaluate']);
});

test('evaluate: says which checkpoint of a run folder it loaded (--checkpoint latest or best)', async () => {
  const best = readFileSync(join(run, 'checkpoints', 'best'), 'utf8').trim();
  for (const [which, name] of [['latest', 'epoch-0003'], ['best', best]]) {
    const r = await runCaptured(['evaluate', '--model', run, '--checkpoint', which, '--data', SIGNS_TEST, '--limit', '12', '--backend', TEST_BACKEND]);
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(lines(r.out).slice(0, 3), [`model: ${run}`, `checkpoint: ${join(run, 'checkpoints', name)} (${which})`, `data: ${SIGNS_TEST} (12 images)`]);
    const json = await runCaptured(['evaluate', '--model', run, '--checkpoint', which, '--data', SIGNS_TEST, '--limit', '12', '--json', '--backend', TEST_BACKEND]);
    assert.equal(json.code, 0, json.err);
    assert.equal(JSON.parse(json.out).checkpoint, join(run, 'checkpoints', name));
  }
  // A model folder is loaded as it is: no checkpoint line.
  const direct = await runCaptured(['evaluate', '--model', join(run, 'checkpoints', 'epoch-0003'), '--data', SIGNS_TEST, '--limit', '12', '--backend', TEST_BACKEND]);
  assert.equal(direct.code, 0, direct.err);
  assert.doesNotMatch(direct.out, /^checkpoint: /m);
});

/** Writes a 40x40 PNG whose pixels depend on `seed`. */
async function writePng(file: string, seed: number): Promise<void> {
  const pixels = Buffer.alloc(40 * 40 * 3);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + seed * 53) % 256;
  await sharp(pixels, { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(file);
}

test('evaluate --split: a note when the source has a single part; honoured where it has a train and a test part', async () => {
  const base = ['--model', run, '--backend', TEST_BACKEND];
  const note = (r: CliResult) => lines(r.err).filter((l) => l.startsWith('note: '));

  const single = await runCaptured(['evaluate', ...base, '--data', SIGNS_TEST, '--split', 'train', '--limit', '12']);
  assert.equal(single.code, 0, single.err);
  assert.deepEqual(note(single), [`note: --split train ignored: ${SIGNS_TEST} has a single part`]);
  const implicit = await runCaptured(['evaluate', ...base, '--data', SIGNS_TEST, '--limit', '12']);
  assert.equal(implicit.code, 0, implicit.err);
  assert.deepEqual(note(implicit), [], 'no note when --split was not given');

  // An image folder with train/ (2 images a class) and test/ (1 a class) parts.
  const photos = join(work, 'photos');
  for (const [part, perClass] of [['train', 2], ['test', 1]] as const) {
    for (let c = 0; c < 6; c++) {
      mkdirSync(join(photos, part, String(c)), { recursive: true });
      for (let k = 0; k < perClass; k++) await writePng(join(photos, part, String(c), `${k}.png`), c * 10 + k);
    }
  }
  for (const [split, count] of [['train', 12], ['test', 6]] as const) {
    const r = await runCaptured(['evaluate', ...base, '--data', photos, '--split', split, '--json']);
    assert.equal(r.code, 0, r.err);
    assert.equal(JSON.parse(r.out).count, count, split);
    assert.equal(JSON.parse(r.out).part, split, 'the part evaluated is in the JSON');
    assert.deepEqual(note(r), [], split);
  }
  const folder = await runCaptured(['evaluate', ...base, '--data', join(photos, 'train'), '--split', 'test', '--json']);
  assert.equal(folder.code, 0, folder.err);
  assert.equal(JSON.parse(folder.out).count, 12);
  assert.equal(JSON.parse(folder.out).part, undefined, 'a single-part source has no part in the JSON');
  assert.deepEqual(note(folder), [`note: --split test ignored: ${join(photos, 'train')} has a single part`]);
});

test('predict help: --model <path> names every kind of model; examples; folders as arguments', async () => {
  await assertModelOption('predict');
  const out = await assertExamples(['predict']);
  assert.match(out.replace(/\s+/g, ' '), /image image files, or folders of them \(the image files directly inside, sorted; not sub-folders\)/);
});

test('predict on a folder: its image files, sorted, not its sub-folders or other files; an empty folder is one line', async () => {
  const folder = join(work, 'to-predict');
  mkdirSync(join(folder, 'nested'), { recursive: true });
  await writePng(join(folder, 'b.png'), 1);
  await writePng(join(folder, 'a.PNG'), 2);
  await writePng(join(folder, 'nested', 'c.png'), 3);
  await writePng(join(folder, '.hidden.png'), 4);
  writeFileSync(join(folder, 'notes.txt'), 'not an image\n');
  const r = await runCaptured(['predict', '--model', run, '--json', '--backend', TEST_BACKEND, folder]);
  assert.equal(r.code, 0, r.err);
  const preds = JSON.parse(r.out) as { file: string; top: unknown[] }[];
  assert.deepEqual(preds.map((p) => p.file), [join(folder, 'a.PNG'), join(folder, 'b.png')]);
  // The same as naming the files, and a folder mixes with files.
  const named = await runCaptured(['predict', '--model', run, '--json', '--backend', TEST_BACKEND, join(folder, 'nested', 'c.png'), join(folder, 'a.PNG'), join(folder, 'b.png')]);
  assert.equal(named.code, 0, named.err);
  const mixed = await runCaptured(['predict', '--model', run, '--json', '--backend', TEST_BACKEND, join(folder, 'nested', 'c.png'), folder]);
  assert.equal(mixed.code, 0, mixed.err);
  assert.deepEqual(JSON.parse(mixed.out), JSON.parse(named.out));

  const empty = join(work, 'no-images');
  mkdirSync(join(empty, 'sub'), { recursive: true });
  writeFileSync(join(empty, 'readme.md'), '# nothing to see\n');
  assertOneLine(
    await runCaptured(['predict', '--model', run, '--backend', TEST_BACKEND, empty]),
    1,
    new RegExp(`^resnet: ${empty}: no image files in this folder \\(\\.jpg, \\.jpeg, \\.png, \\.webp; sub-folders are not searched\\)$`),
    'empty folder',
  );
  assert.deepEqual(readdirSync(empty).sort(), ['readme.md', 'sub']);
});
