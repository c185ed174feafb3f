/**
 * `resnet evaluate`: loss, accuracy, per-class precision and recall, and the confusion matrix of a trained model on a
 * labelled data set, in inference mode (BatchNorm uses its moving statistics).
 */
import { readdir, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { Command, Option } from 'commander';
import h5wasm from 'h5wasm/node';
import { initBackend, type BackendChoice } from '../../backend/index.js';
import { evaluate, formatClassMetrics, formatConfusion, resolveModelDir, type CheckpointChoice } from '../../train/index.js';
import { parsePositiveInt } from '../common.js';
import { addBackendOption, MODEL_OPTION_HELP } from './train.js';

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

/** File names taken as HDF5 by the data loader. */
const H5_NAME = /\.(h5|hdf5|he5)$/i;

/** The `<prefix>` of each `<prefix>_set_x` / `<prefix>_set_y` pair in an HDF5 file, as the data loader reads them. */
async function h5Parts(file: string): Promise<string[]> {
  await h5wasm.ready;
  const h5 = new h5wasm.File(resolve(file), 'r');
  try {
    const keys = h5.keys();
    return keys.map((k) => /^(.+)_set_x$/.exec(k)?.[1]).filter((p): p is string => p !== undefined && keys.includes(`${p}_set_y`));
  } finally {
    h5.close();
  }
}

/**
 * Says why `--split` chose nothing in the data source at `path` (one that `openDataset` has just read): the source
 * has a single part, which is used whatever the split. Undefined where the split did choose: an HDF5 file with
 * several `<prefix>_set_*` pairs, a folder of several .h5 files, of `train-*` / `t10k-*` IDX files, or with `train/`
 * and `test/` sub-folders (the loader fails, naming it, where the part asked for is missing). This follows the
 * loader's rules in `src/data/index.ts`.
 */
export async function singlePartNote(path: string): Promise<string | undefined> {
  const info = await stat(path);
  if (info.isFile()) {
    if (!H5_NAME.test(path)) return `${path} is a single IDX images file`;
    const parts = await h5Parts(path);
    return parts.length === 1 ? `${path} holds a single part (${parts[0]}_set_x/${parts[0]}_set_y)` : undefined;
  }
  const entries = await readdir(path, { withFileTypes: true });
  if (entries.some((e) => /images[-.]idx3-ubyte(\.gz)?$/.test(e.name))) return undefined;
  const folders = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
  const h5Files = entries.filter((e) => H5_NAME.test(e.name)).map((e) => e.name);
  if (h5Files.length > 0 && folders.length === 0) return h5Files.length === 1 ? singlePartNote(join(path, h5Files[0])) : undefined;
  if (folders.includes('train') && folders.includes('test')) return undefined;
  return `${path} is a single image folder (no train/ and test/ sub-folders)`;
}

/** Registers `resnet evaluate` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('evaluate')
    .description('Evaluate a trained model on labelled data: loss, accuracy, per-class precision/recall, confusion matrix.')
    .requiredOption('--model <path>', MODEL_OPTION_HELP)
    .addOption(new Option('--checkpoint <which>', "for a training run folder: its latest checkpoint or its best by validation loss").choices(['latest', 'best']).default('latest'))
    .requiredOption('--data <path>', 'labelled data: SIGNS .h5 file, image folder or IDX files')
    .addOption(
      new Option('--split <part>', 'which part of a source that has several (train_set/test_set pairs, train/ and test/ folders, train-/t10k- IDX files)')
        .choices(['train', 'test'])
        .default('test'),
    )
    .option('--limit <n>', 'evaluate only n images (class-balanced pick)', parsePositiveInt)
    .option('--batch-size <n>', 'images per forward pass', parsePositiveInt, 32)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  resnet evaluate --model runs/signs --data test_signs.h5
  resnet evaluate --model runs/signs --checkpoint best --data test.h5 --json
  resnet evaluate --model resnet50_signs.h5 --data photos/ --limit 1000`,
    );
  addBackendOption(cmd).action(async (opts: EvaluateCliOptions, command: Command) => {
    // Which backend runs it, on stderr so that --json output stays clean.
    process.stderr.write(`backend: ${await initBackend(opts.backend)}\n`);
    // The folder actually loaded: for a run folder, the checkpoint --checkpoint picks, shown as a path under --model.
    const dir = await resolveModelDir(opts.model, opts.checkpoint);
    const checkpoint = dir === resolve(opts.model) ? undefined : join(opts.model, relative(resolve(opts.model), dir));
    const r = await evaluate({ model: dir, data: opts.data, split: opts.split, limit: opts.limit, batchSize: opts.batchSize, backend: opts.backend });
    if (command.getOptionValueSource('split') === 'cli') {
      const single = await singlePartNote(opts.data).catch(() => undefined);
      if (single !== undefined) process.stderr.write(`note: --split ${opts.split} ignored: ${single}\n`);
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ model: opts.model, ...(checkpoint !== undefined ? { checkpoint } : {}), data: opts.data, ...r }, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      [
        `model: ${opts.model}`,
        ...(checkpoint !== undefined ? [`checkpoint: ${checkpoint} (${opts.checkpoint})`] : []),
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
