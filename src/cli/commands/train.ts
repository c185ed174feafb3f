/**
 * `resnet train`: trains a ResNet on a data set with per-epoch validation, atomic checkpoints, logs and a final
 * report. `--resume` continues a run from its latest checkpoint; options not given on the command line are then taken
 * from the run's saved arguments.
 *
 * Also exports what `demo` shares with it: the interrupted-training message and the occupied-folder exit code.
 */
import { existsSync, realpathSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import type { BackendChoice } from '../../backend/index.js';
import { type AugmentOptions, validationFolderOf } from '../../data/index.js';
import { ARCH_NAMES, minimumInputSize, type ArchName } from '../../model/index.js';
import {
  LR_SCHEDULES,
  type LrSchedule,
  OPTIMIZER_NAMES,
  type OptimizerName,
  type EpochRecord,
  type TrainOptions,
  type TrainResult,
  latestCheckpoint,
  latestCheckpointSync,
  readState,
  RunFolderInUseError,
  DEFAULT_PRECISE_BN,
  REPORT_DIR,
  epochsText,
  streamReporter,
  trackProgress,
  train,
  type ProgressPosition,
  type TrackedReporter,
} from '../../train/index.js';
import { missingFoldersSync, removeCreatedFoldersSync } from '../../train/fsutil.js';
import {
  CliError,
  parseFraction,
  parseNonNegativeInt,
  parsePositiveInt,
  parsePositiveNumber,
  parseShape,
  shellQuote,
  untilInterrupted,
} from '../common.js';
import { addBackendOption } from '../options.js';

/** Parses `--augment flip,shift,crop` (`shift=0.15` sets the shift fraction; plain `shift` is 0.1), for commander. */
export function parseAugment(value: string): AugmentOptions {
  const out: AugmentOptions = {};
  for (const raw of value.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const [name, arg] = raw.split('=');
    if (name === 'flip' && arg === undefined) out.flip = true;
    else if (name === 'crop' && arg === undefined) out.crop = true;
    else if (name === 'shift') {
      const f = arg === undefined ? 0.1 : Number(arg);
      if (!(f > 0 && f < 1)) throw new InvalidArgumentError(`shift fraction must be in (0, 1), got '${arg}'`);
      out.shift = f;
    } else {
      throw new InvalidArgumentError(`unknown augmentation '${raw}' (known: flip, shift[=fraction], crop)`);
    }
  }
  return out;
}

/**
 * Settles `--momentum` and `--nesterov` against `--optimizer`: values that came from a resumed run's arguments (not
 * the command line) are dropped where they no longer apply (another optimizer given now, or `--momentum 0` without
 * `--nesterov`); what the command line asks for that does not fit is a usage error.
 */
function settleMomentum(opts: TrainCliOptions, cmd: Command): void {
  const fromCli = (key: keyof TrainCliOptions): boolean => cmd.getOptionValueSource(key) === 'cli';
  if (opts.optimizer !== 'sgd') {
    if (!fromCli('momentum')) opts.momentum = 0;
    if (!fromCli('nesterov')) opts.nesterov = false;
    const given = [opts.momentum > 0 ? '--momentum' : '', opts.nesterov === true ? '--nesterov' : ''].filter((g) => g !== '');
    if (given.length > 0) throw new CliError(`${given.join(' and ')} ${given.length > 1 ? 'apply' : 'applies'} only to --optimizer sgd, not ${opts.optimizer}`, 2);
  }
  if (opts.momentum === 0 && opts.nesterov === true) {
    if (!fromCli('nesterov')) opts.nesterov = false;
    else throw new CliError('--nesterov needs --momentum above 0 (e.g. --momentum 0.9)', 2);
  }
}

/** `train`'s options as commander parses them. */
interface TrainCliOptions {
  data?: string;
  valData?: string;
  /** Undefined unless given (or stored with a resumed run): a `val/` folder of --data validates, else 0.1 is held out. */
  valSplit?: number;
  valLimit?: number;
  arch: ArchName;
  widthDivisor: number;
  input?: [number, number, number];
  limit?: number;
  epochs: number;
  batchSize: number;
  optimizer: OptimizerName;
  lr: number;
  momentum: number;
  nesterov?: boolean;
  lrSchedule: LrSchedule;
  out?: string;
  resume?: boolean;
  earlyStop?: number;
  initWeights?: string;
  augment?: AugmentOptions;
  preciseBn: number;
  seed: number;
  backend: BackendChoice;
  keep: number;
}

/** Options that `--resume` takes from the saved run when they are not on the command line (CLI name → state key). */
const RESUMABLE: [keyof TrainCliOptions, string][] = [
  ['data', 'data'],
  ['valData', 'valData'],
  ['valSplit', 'valSplit'],
  ['valLimit', 'valLimit'],
  ['arch', 'arch'],
  ['widthDivisor', 'widthDivisor'],
  ['input', 'inputShape'],
  ['limit', 'limit'],
  ['epochs', 'epochs'],
  ['batchSize', 'batchSize'],
  ['optimizer', 'optimizer'],
  ['lr', 'lr'],
  ['momentum', 'momentum'],
  ['nesterov', 'nesterov'],
  ['lrSchedule', 'lrSchedule'],
  ['earlyStop', 'earlyStop'],
  ['initWeights', 'initWeights'],
  ['augment', 'augment'],
  ['preciseBn', 'preciseBn'],
  ['seed', 'seed'],
];

/**
 * With `--resume`, fills the options the user did not give from the saved arguments of the run's latest checkpoint
 * `latest`. Returns the names of the data options (`--data`, `--val-data`) so taken.
 */
async function fillFromRun(opts: TrainCliOptions, cmd: Command, latest: string): Promise<string[]> {
  const saved = (await readState(latest)).args;
  const record = opts as unknown as Record<string, unknown>;
  const data: string[] = [];
  for (const [key, savedKey] of RESUMABLE) {
    const source = cmd.getOptionValueSource(key);
    const value = saved[savedKey];
    if ((source === undefined || source === 'default') && value !== undefined && value !== null) {
      if (typeof value === 'string' && value.startsWith('dataset:')) continue;
      record[key] = value;
      if (key === 'data' || key === 'valData') data.push(`--${key === 'data' ? 'data' : 'val-data'} ${shellQuote(String(value))}`);
    }
  }
  return data;
}

/** Why `out` holds no run to resume, in a few words: `no such folder`, `not a folder`, `no checkpoint in it`. */
function noRunReason(out: string): string {
  if (!existsSync(out)) return 'no such folder';
  return statSync(out).isDirectory() ? 'no checkpoint in it' : 'not a folder';
}

/** Where an interrupted training was, in words: `during epoch 3`, `after its last epoch (5)`, …. */
export function describePosition(p: Readonly<ProgressPosition>): string {
  if (p.running !== undefined) return `during epoch ${p.running}`;
  if (p.finished) return p.ended !== undefined ? `after its last epoch (${p.ended})` : 'after training';
  if (p.ended !== undefined) return p.epochs !== undefined && p.ended < p.epochs ? `during epoch ${p.ended + 1}` : `after epoch ${p.ended}`;
  return 'before training started';
}

/**
 * What to do when a training command (train, demo) is interrupted: close the progress display (restoring the
 * terminal) and say where training was and which checkpoint a resumed run starts from, e.g.
 * `interrupted during epoch 3; the last checkpoint is runs/x/checkpoints/epoch-0002 (report: runs/x/report/report.md):
 * continue with <resume>` (the report of the epochs so far, where there is one).
 * Checkpoints are written atomically, so the process may exit at once. `created` lists the folders that did not exist
 * when the command started (`missingFoldersSync(out)`: the run folder and the parents made for it, outermost first):
 * a run folder this command created that holds no checkpoint yet is removed (nothing worth keeping is in it), and so
 * are those parents while empty. Synchronous, so that training stops here.
 */
export function interruptedTraining(reporter: TrackedReporter, out: string, created: readonly string[], resume: string): string {
  reporter.close();
  const when = `interrupted ${describePosition(reporter.position)}`;
  // Read synchronously: the abandoned training must not get the event loop back meanwhile.
  const latest = latestCheckpointSync(out);
  if (latest !== undefined) {
    // The report of the epochs trained so far, which every epoch rewrites before its line shows.
    const report = join(out, REPORT_DIR, 'report.md');
    return `${when}; the last checkpoint is ${latest}${existsSync(report) ? ` (report: ${report})` : ''}: ${resume}`;
  }
  if (created.length > 0) {
    if (!existsSync(out)) return `${when}; no checkpoint yet`;
    rmSync(out, { recursive: true, force: true });
    const parents = removeCreatedFoldersSync(created.slice(0, -1));
    return `${when}; no checkpoint yet, so ${out} was removed${parents.length > 0 ? ', with the folders made for it' : ''}`;
  }
  return `${when}; no checkpoint in ${out} yet`;
}

/**
 * Rethrows an error of a training command (train, demo), a refused `--out` ({@link RunFolderInUseError}: a folder
 * that holds another run or someone's files) as the usage error it is, exit code 2; other errors as they are.
 */
export function refusedOutIsUsageError(err: unknown): never {
  if (err instanceof RunFolderInUseError) throw new CliError(err.message, 2);
  throw err;
}

/** An epoch's metrics as the final lines show them: `loss 0.1234  acc 0.9500  val_loss 0.4321  val_acc 0.8250`. */
function metricsText(r: EpochRecord): string {
  return `loss ${r.loss.toFixed(4)}  acc ${r.acc.toFixed(4)}` +
    (r.val_loss !== undefined ? `  val_loss ${r.val_loss.toFixed(4)}  val_acc ${(r.val_acc ?? NaN).toFixed(4)}` : '');
}

/**
 * What `resnet train` prints on stdout when training ends: the run folder; the epochs trained (after an early stop,
 * `epochs: 8 of 20 planned (stopped early: val_loss has not improved for 3 epochs)`); the last epoch's metrics; where
 * the best epoch is not the last, its metrics and checkpoint and how to load it (`--checkpoint best`); the latest
 * checkpoint; the report, and which epoch it evaluated when that is not the last.
 */
export function finalLines(
  result: Pick<TrainResult, 'out' | 'state' | 'plannedEpochs' | 'stoppedEarly' | 'checkpoint' | 'bestCheckpoint' | 'evaluatedEpoch' | 'reportFiles'>,
): string[] {
  const { history, best } = result.state;
  const last = history[history.length - 1];
  const stale = best === undefined ? 0 : result.state.epoch - best.epoch;
  const lines = [
    `run: ${result.out}`,
    result.stoppedEarly && best !== undefined
      ? `epochs: ${result.state.epoch} of ${result.plannedEpochs} planned (stopped early: ${best.monitor} has not improved for ${epochsText(stale)})`
      : `epochs: ${result.state.epoch}`,
  ];
  if (last !== undefined) lines.push(`final: ${metricsText(last)}`);
  const bestRecord = best === undefined || best.epoch === last?.epoch ? undefined : history.find((h) => h.epoch === best.epoch);
  if (bestRecord !== undefined) lines.push(`best: epoch ${bestRecord.epoch}  ${metricsText(bestRecord)}`);
  lines.push(`checkpoint: ${result.checkpoint ?? 'none'}`);
  if (bestRecord !== undefined && result.bestCheckpoint !== undefined) {
    lines.push(`best checkpoint: ${result.bestCheckpoint} (evaluate, predict and convert load it with --model ${shellQuote(result.out)} --checkpoint best)`);
  }
  if (result.reportFiles !== undefined) {
    const evaluated = result.evaluatedEpoch !== undefined && result.evaluatedEpoch !== last?.epoch ? ` (evaluates epoch ${result.evaluatedEpoch}, the best)` : '';
    lines.push(`report: ${join(result.out, REPORT_DIR, 'report.md')}${evaluated}`);
  }
  return lines;
}

/**
 * `path` made absolute with its links resolved: the real path of its deepest part that exists, with the parts that do
 * not exist yet (a run folder to be created) appended as given.
 */
function realPathOf(path: string): string {
  const missing: string[] = [];
  let head = resolve(path);
  for (;;) {
    try {
      return join(realpathSync(head), ...missing.reverse());
    } catch {
      const parent = dirname(head);
      if (parent === head) return resolve(path);
      missing.push(basename(head));
      head = parent;
    }
  }
}

/**
 * Refuses, as a usage error (exit 2) and before anything is created, a run folder `out` that is a data folder or lies
 * inside one: `data` lists each data option with its path (`['--data', 'photos']`); paths that are not folders (an
 * HDF5 file, an IDX file, a path that does not exist) are passed over. A run folder inside an image folder would be
 * read as a class folder by this run or the next (`photos/runs: empty class folder`), and one inside a folder of HDF5
 * files would turn it into an image folder. Links are followed on both sides, so `cd photos && resnet train --data .`
 * (whose default --out is `runs/...`, here inside `photos`) is caught too.
 */
export function checkOutOutsideData(out: string, data: readonly (readonly [flag: string, path: string | undefined])[]): void {
  const outReal = realPathOf(out);
  for (const [flag, path] of data) {
    if (path === undefined) continue;
    let dataReal: string;
    try {
      if (!statSync(path).isDirectory()) continue;
      dataReal = realpathSync(path);
    } catch {
      continue; // missing or unreadable: opening the data names it
    }
    const rel = relative(dataReal, outReal);
    if (rel === '' || !(rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel))) {
      throw new CliError(
        `the run folder ${resolve(out)} (--out) is ${rel === '' ? 'the data folder' : 'inside the data folder'} ${resolve(path)} (${flag}), where its files would be taken for data: choose an --out outside the data folder`,
        2,
      );
    }
  }
}

/**
 * Refuses, as a usage error (exit 2), an `--input` that no training can use: a height or width below the smallest
 * input the ResNets take (37: stage 5 must be at least 2x2 for the 2x2 avg_pool, whatever the architecture), or a
 * channel count other than 1 (grayscale) or 3 (RGB), the two the data layer delivers. Checked before anything is read
 * or created, as `summary` checks the shape it builds.
 */
export function checkInputOption(arch: ArchName, input: readonly [number, number, number] | undefined): void {
  if (input === undefined) return;
  const [h, w, c] = input;
  const min = minimumInputSize(true);
  if (h < min || w < min) {
    throw new CliError(
      `--input ${input.join(',')}: input ${h}x${w} is too small for ${arch}; the smallest input that works is ${min}x${min} ` +
        `(height and width must each be at least ${min}: stage 5 must be at least 2x2 for the 2x2 avg_pool)`,
      2,
    );
  }
  if (c !== 1 && c !== 3) {
    throw new CliError(`--input ${input.join(',')}: ${c} channels; only 1 (grayscale) or 3 (RGB) are supported`, 2);
  }
}

/** Default run folder: `runs/<arch>-<date>-<time>`. */
function defaultOut(arch: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `runs/${arch}-${stamp}`;
}

/** Registers `resnet train` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('train')
    .description('Train a ResNet: per-epoch validation, atomic checkpoints (--resume continues them), log.csv/log.json and a report.')
    .option('--data <path>', 'training data: SIGNS .h5 file, image folder (one sub-folder per class), IDX files or CIFAR-10/100 binary files (cifar-10-batches-bin/)')
    .option('--val-data <path>', 'validation data (default: the val/ or validation/ folder beside train/ in --data, else hold out --val-split of --data)')
    .option('--val-split <fraction>', 'fraction of --data held out for validation; 0: none (default: 0.1, or the val/ folder where --data has one)', parseFraction)
    .option('--val-limit <n>', "validate on only n images of --val-data or of --data's val/ folder (class-balanced pick)", parsePositiveInt)
    .addOption(new Option('--arch <name>', 'architecture').choices(ARCH_NAMES).default('resnet50'))
    .option('--width-divisor <n>', 'divide every filter count by n (small, fast variants)', parsePositiveInt, 1)
    .option('--input <h,w,c>', 'train at this image shape (default: the data\'s own; image folders: 64,64,3); images are stretched to it whole, no crop, as Keras\'s image_dataset_from_directory does', parseShape)
    .option('--limit <n>', 'use only n images of --data (class-balanced pick); the --val-split part is held out of these n', parsePositiveInt)
    .option('--epochs <n>', 'total number of epochs', parsePositiveInt, 2)
    .option('--batch-size <n>', 'images per training step', parsePositiveInt, 32)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(OPTIMIZER_NAMES).default('adam'))
    .option('--lr <rate>', 'learning rate', parsePositiveNumber, 0.001)
    .option('--momentum <m>', 'SGD momentum in [0, 1), e.g. 0.9 (0: plain SGD; --optimizer sgd only)', parseFraction, 0)
    .option('--nesterov', "Nesterov's momentum instead of the classical one (needs --optimizer sgd and --momentum above 0)")
    .option('--no-nesterov', "classical momentum (drops a resumed run's --nesterov)")
    .addOption(new Option('--lr-schedule <name>', "learning-rate schedule: constant, or cosine decay to 0 over the run's steps").choices(LR_SCHEDULES).default('constant'))
    .option('--out <dir>', 'run folder (default: runs/<arch>-<date>-<time>)')
    .option('--resume', 'continue the run in --out from its latest checkpoint')
    .option('--init-weights <model>', 'start a new run from the weights of a saved model, training run or Keras .h5 file, layer by layer where names and shapes match (fine-tuning: a classifier for other classes keeps its own)')
    .option('--early-stop <patience>', 'stop when the validation loss has not improved for this many epochs (needs --val-data or a --val-split above 0)', parsePositiveInt)
    .option('--augment <list>', 'augment training images: flip, shift[=fraction], crop (comma-separated)', parseAugment)
    .option('--precise-bn <batches>', 're-estimate BatchNorm statistics over this many batches after each epoch (0: off)', (v) => parseNonNegativeInt(v), DEFAULT_PRECISE_BN)
    .option('--seed <n>', 'seed of shuffling, augmentation, --limit and the validation split', (v) => parseNonNegativeInt(v), 0)
    .option('--keep <n>', 'checkpoints to keep besides the best', parsePositiveInt, 2)
    .addHelpText(
      'after',
      `
Ctrl-C stops at once and names the last checkpoint; --resume continues from it.

Examples:
  resnet train --data train_signs.h5 --out runs/signs --epochs 20 --augment flip
  resnet train --out runs/signs --resume --epochs 30   (more epochs, same run)
  resnet train --data train_signs.h5 --optimizer sgd --lr 0.1 --momentum 0.9
  resnet train --data photos/ --arch resnet18 --width-divisor 4 --limit 500
  resnet train --data fashion/ --val-data fashion/ --val-limit 1000
  resnet train --data photos/ --init-weights runs/signs --lr 1e-4   (fine-tune)`,
    );
  addBackendOption(cmd).action(async (opts: TrainCliOptions, command: Command) => {
    if (opts.resume && opts.out === undefined) throw new CliError('--resume needs --out <dir>: the run folder to continue', 2);
    const out = opts.out ?? defaultOut(opts.arch);
    const created = missingFoldersSync(out);
    const reporter = trackProgress(streamReporter());
    // With --resume, the run's latest checkpoint (null: none), read once here and passed on to train.
    let latest: string | null | undefined;
    if (opts.resume) {
      latest = (await latestCheckpoint(out)) ?? null;
      // Without --data, --resume can only continue a run (with --data and no run yet, it starts one).
      if (latest === null && opts.data === undefined) {
        throw new CliError(`${out}: no training run to resume (${noRunReason(out)}): check --out, or give --data to start a new run`, 2);
      }
      const fromRun = latest === null ? [] : await fillFromRun(opts, command, latest);
      if (fromRun.length > 0) reporter.message(`using the data stored with the run: ${fromRun.join(' ')}`);
    }
    settleMomentum(opts, command);
    if (opts.data === undefined) throw new CliError("required option '--data <path>' not specified (see resnet train --help)", 2);
    checkOutOutsideData(out, [['--data', opts.data], ['--val-data', opts.valData]]);
    checkInputOption(opts.arch, opts.input);
    // --val-limit picks from --val-data, or from the val/ folder of a --data folder that validates the run.
    // (Data that is not there is left to the data's own error, which says so.)
    if (opts.valLimit !== undefined && opts.valData === undefined && existsSync(opts.data)) {
      const valFolder = await validationFolderOf(opts.data);
      if (valFolder !== undefined && opts.valSplit !== undefined) {
        throw new CliError(`--val-limit picks from ${valFolder}, which --val-split leaves unused (the part it holds out of --data is sized by --val-split): give one of them`, 2);
      }
      if (valFolder === undefined) {
        throw new CliError('--val-limit needs --val-data, or a --data folder with a val/ folder (the validation part held out of --data is sized by --val-split)', 2);
      }
    }
    if (opts.earlyStop !== undefined && opts.valData === undefined && opts.valSplit === 0) {
      // A run started before early stopping needed validation data may have stored it: resuming it must still work.
      if (!(opts.resume && command.getOptionValueSource('earlyStop') !== 'cli')) {
        throw new CliError('--early-stop needs validation data: give --val-data, or a --val-split above 0 (it watches the validation loss)', 2);
      }
      reporter.message(`note: the run's stored --early-stop ${opts.earlyStop} is dropped: the run has no validation data for it to watch`);
      opts.earlyStop = undefined;
    }
    const options: TrainOptions = {
      // Absolute, so that --resume finds the data from any working folder.
      data: resolve(opts.data),
      valData: opts.valData === undefined ? undefined : resolve(opts.valData),
      valSplit: opts.valSplit,
      valLimit: opts.valLimit,
      arch: opts.arch,
      widthDivisor: opts.widthDivisor,
      inputShape: opts.input,
      limit: opts.limit,
      epochs: opts.epochs,
      batchSize: opts.batchSize,
      optimizer: opts.optimizer,
      lr: opts.lr,
      momentum: opts.momentum,
      nesterov: opts.nesterov ?? false,
      lrSchedule: opts.lrSchedule,
      out,
      resume: opts.resume,
      latest,
      earlyStop: opts.earlyStop,
      initWeights: opts.initWeights === undefined ? undefined : resolve(opts.initWeights),
      augment: opts.augment,
      preciseBn: opts.preciseBn,
      seed: opts.seed,
      backend: opts.backend,
      keepCheckpoints: opts.keep,
    };
    // Failures, a diverged loss included, reach main.ts as one-line errors with exit code 1; a refused --out, exit code
    // 2; Ctrl-C, exit code 130.
    const result = await untilInterrupted(
      () => train({ ...options, reporter, optionNames: 'cli' }).catch(refusedOutIsUsageError),
      () => interruptedTraining(reporter, out, created, `continue with resnet train --out ${shellQuote(out)} --resume`),
    );
    try {
      process.stdout.write(`${finalLines(result).join('\n')}\n`);
    } finally {
      result.optimizer.dispose();
      result.model.dispose();
    }
  });
}

