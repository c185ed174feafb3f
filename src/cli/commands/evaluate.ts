/**
 * `resnet evaluate`: loss, accuracy, per-class precision and recall, and the confusion matrix of a trained model on a
 * labelled data set, in inference mode (BatchNorm uses its moving statistics).
 */
import { Command, Option } from 'commander';
import { initBackend, type BackendChoice } from '../../backend/index.js';
import { evaluate, formatClassMetrics, formatConfusion, type CheckpointChoice } from '../../train/index.js';
import { parsePositiveInt } from '../common.js';
import { addBackendOption } from './train.js';

interface EvaluateCliOptions {
  model: string;
  data: string;
  split: 'train' | 'test';
  limit?: number;
  batchSize: number;
  json?: boolean;
  backend: BackendChoice;
  checkpoint: CheckpointChoice;
}

/** Registers `resnet evaluate` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description('Evaluate a trained model on labelled data: loss, accuracy, per-class precision/recall, confusion matrix.')
    .requiredOption('--model <dir>', 'a saved model folder (model.json) or a training run folder (its latest checkpoint)')
    .addOption(new Option('--checkpoint <which>', "for a training run folder: its latest checkpoint or its best by validation loss").choices(['latest', 'best']).default('latest'))
    .requiredOption('--data <path>', 'labelled data: SIGNS .h5 file, image folder or IDX files')
    .addOption(new Option('--split <part>', 'which part of a source that has several').choices(['train', 'test']).default('test'))
    .option('--limit <n>', 'evaluate only n images (class-balanced pick)', parsePositiveInt)
    .option('--batch-size <n>', 'images per forward pass', parsePositiveInt, 32)
    .option('--json', 'print the result as JSON');
  addBackendOption(cmd).action(async (opts: EvaluateCliOptions) => {
    // Which backend runs it, on stderr so that --json output stays clean.
    process.stderr.write(`backend: ${await initBackend(opts.backend)}\n`);
    const r = await evaluate({ model: opts.model, checkpoint: opts.checkpoint, data: opts.data, split: opts.split, limit: opts.limit, batchSize: opts.batchSize, backend: opts.backend });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ model: opts.model, data: opts.data, ...r }, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      [
        `model: ${opts.model}`,
        `data: ${opts.data} (${r.count} images)`,
        `loss: ${r.loss.toFixed(4)}`,
        `accuracy: ${r.accuracy.toFixed(4)}`,
        '',
        formatClassMetrics(r.perClass),
        '',
        'confusion matrix (rows: true class, columns: predicted class):',
        formatConfusion(r.confusion, r.classes),
        '',
      ].join('\n'),
    );
  });
}
