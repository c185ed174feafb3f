/**
 * `resnet evaluate`: loss, accuracy, per-class precision and recall, and the confusion matrix of a trained model on a
 * labelled data set, in inference mode (BatchNorm uses its moving statistics).
 */
import { basename, join, relative, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { initBackend, type BackendChoice } from '../../backend/index.js';
import { isTrainingRun } from '../../train/checkpoint.js';
import { TargetInUseError } from '../../train/fsutil.js';
import { checkReportTarget, countProgress, evaluate, formatClassMetrics, formatConfusion, formatProbability, mistakeRecord, resolveModelDir, writeReport, type CheckpointChoice, type EvaluationResult } from '../../train/index.js';
import { CliError, parsePositiveInt, untilInterrupted } from '../common.js';
import { addBackendOption, addCheckpointOption, checkCheckpointOption, MODEL_OPTION_HELP } from '../options.js';

interface EvaluateCliOptions {
  model: string;
  data: string;
  split: 'train' | 'test';
  limit?: number;
  batchSize: number;
  json?: boolean;
  report?: string;
  backend: BackendChoice;
  checkpoint: CheckpointChoice;
}

/** Registers `resnet evaluate` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description('Evaluate a trained model on labelled data: loss, accuracy, per-class precision/recall, confusion matrix.')
    .requiredOption('--model <path>', MODEL_OPTION_HELP);
  addCheckpointOption(cmd)
    .requiredOption('--data <path>', 'labelled data: SIGNS .h5 file, image folder, IDX files or CIFAR-10/100 binary files')
    .addOption(
      new Option('--split <part>', 'which part of a source that has several (train_set/test_set pairs, train/ and test/ folders, train-/t10k- IDX files, CIFAR data_batch_*/test_batch or train/test .bin files)')
        .choices(['train', 'test'])
        .default('test'),
    )
    .option('--limit <n>', 'evaluate only n images (class-balanced pick)', parsePositiveInt)
    .option('--batch-size <n>', 'images per forward pass', parsePositiveInt, 32)
    .option('--json', 'print the result as JSON')
    .option('--report <dir>', 'also write a report folder: report.md, the confusion matrix and a grid of the most confident mistakes (PNG and SVG), metrics.json')
    .addHelpText(
      'after',
      `
Examples:
  resnet evaluate --model runs/signs --data test_signs.h5
  resnet evaluate --model runs/signs --checkpoint best --data test.h5 --json
  resnet evaluate --model resnet50_signs.h5 --data photos/ --limit 1000
  resnet evaluate --model runs/signs --data test_signs.h5 --report test-report`,
    );
  addBackendOption(cmd).action(async (opts: EvaluateCliOptions, command: Command) => {
    await checkCheckpointOption(command, opts.model);
    // A --report folder that would be refused at the end is refused before the work.
    if (opts.report !== undefined) {
      await checkReportTarget(opts.report, false).catch((err: unknown) => {
        throw err instanceof TargetInUseError ? new CliError(`${err.message}; choose another --report`, 2) : err;
      });
    }
    // Which backend runs it, on stderr so that --json output stays clean.
    process.stderr.write(`backend: ${await initBackend(opts.backend)}\n`);
    // The folder actually loaded: for a run folder the checkpoint --checkpoint picks, for a run's pointer file
    // (runs/x/checkpoints/best) the one it names; shown as a path under --model, with which of the run's it is.
    const dir = await resolveModelDir(opts.model, opts.checkpoint);
    const checkpoint = resolve(dir) === resolve(opts.model) ? undefined : join(opts.model, relative(resolve(opts.model), dir));
    const which = (await isTrainingRun(opts.model)) ? opts.checkpoint : basename(resolve(opts.model));
    // Progress on stderr (a bar on a terminal; in a log, a line every 30 s of a long evaluation), cleared before the
    // results; Ctrl-C gives the terminal back and ends with exit code 130.
    const progress = countProgress('evaluating');
    const r = await untilInterrupted(
      () => evaluate({ model: dir, data: opts.data, split: opts.split, limit: opts.limit, batchSize: opts.batchSize, backend: opts.backend, onProgress: progress.update, onDescription: (line) => process.stderr.write(`${line}\n`) }),
      () => {
        progress.stop();
        return 'evaluation interrupted';
      },
    ).finally(() => progress.stop());
    // The data layer reports the part that --split chose; none means the source is a single part, read as it is.
    if (command.getOptionValueSource('split') === 'cli' && r.part === undefined) {
      process.stderr.write(`note: --split ${opts.split} ignored: ${opts.data} has a single part\n`);
    }
    const reportFile = opts.report === undefined ? undefined : await writeEvaluationReport(opts.report, r, opts.model, checkpoint, opts.data);
    if (opts.json) {
      const result = { model: opts.model, ...(checkpoint !== undefined ? { checkpoint } : {}), data: opts.data, ...r, mistakes: r.mistakes.map(mistakeRecord) };
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      if (reportFile !== undefined) process.stderr.write(`report: ${reportFile}\n`);
      return;
    }
    process.stdout.write(
      [
        `model: ${opts.model}`,
        ...(checkpoint !== undefined ? [`checkpoint: ${checkpoint} (${which})`] : []),
        `data: ${opts.data} (${r.count} images)`,
        `loss: ${r.loss.toFixed(4)}`,
        `accuracy: ${r.accuracy.toFixed(4)}`,
        '',
        formatClassMetrics(r.perClass),
        '',
        'confusion matrix (rows: true class, columns: predicted class):',
        formatConfusion(r.confusion, r.classes),
        '',
        ...mistakeLines(r),
        ...(reportFile !== undefined ? [`report: ${reportFile}`, ''] : []),
      ].join('\n'),
    );
  });
}

/** How many of the most confident mistakes the text output lists (the report draws all that were kept). */
const MISTAKES_LISTED = 5;

/** The most confident mistakes, one a line, where there are any. */
function mistakeLines(r: EvaluationResult): string[] {
  if (r.mistakes.length === 0) return [];
  return [
    'most confident mistakes:',
    ...r.mistakes.slice(0, MISTAKES_LISTED).map((m) =>
      `  ${m.source ?? `#${m.index}`}: ${r.classes[m.predicted]} (${formatProbability(m.confidence)}), true ${r.classes[m.truth]} (${formatProbability(m.truthProbability)})`),
    '',
  ];
}

/** Writes the evaluation's report folder `dir` (atomically, as training reports are); returns its report.md. */
async function writeEvaluationReport(dir: string, r: EvaluationResult, model: string, checkpoint: string | undefined, data: string): Promise<string> {
  await writeReport(dir, {
    title: `Evaluation of ${model} on ${data}`,
    classes: r.classes,
    history: [],
    evaluation: { split: r.part ?? basename(resolve(data)), ...r, ...(checkpoint !== undefined ? { checkpoint } : {}) },
    facts: { model, ...(checkpoint !== undefined ? { checkpoint } : {}), data },
  });
  return join(dir, 'report.md');
}
