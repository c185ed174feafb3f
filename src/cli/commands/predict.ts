/**
 * `resnet predict`: the most probable classes of image files (or of the images in folders) under a trained model,
 * with their probabilities.
 */
import { Command, Option } from 'commander';
import { initBackend, type BackendChoice } from '../../backend/index.js';
import { predict, type CheckpointChoice } from '../../train/index.js';
import { parsePositiveInt } from '../common.js';
import { addBackendOption, MODEL_OPTION_HELP } from './train.js';

interface PredictCliOptions {
  model: string;
  top: number;
  json?: boolean;
  backend: BackendChoice;
  checkpoint: CheckpointChoice;
}

/** Registers `resnet predict` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('predict')
    .description('Predict the top classes of image files (JPEG, PNG, WebP) with a trained model.')
    .argument('<image...>', 'image files, or folders of them (the image files directly inside, sorted; not sub-folders)')
    .requiredOption('--model <path>', MODEL_OPTION_HELP)
    .addOption(new Option('--checkpoint <which>', "for a training run folder: its latest checkpoint or its best by validation loss").choices(['latest', 'best']).default('latest'))
    .option('--top <k>', 'how many classes to show per image', parsePositiveInt, 3)
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  resnet predict --model runs/signs photo.jpg   (the run's latest checkpoint)
  resnet predict --model runs/signs --checkpoint best photos/
  resnet predict --model resnet50_signs.h5 --top 1 --json a.png b.png`,
    );
  addBackendOption(cmd).action(async (images: string[], opts: PredictCliOptions) => {
    // Which backend runs it, on stderr so that --json output stays clean.
    process.stderr.write(`backend: ${await initBackend(opts.backend)}\n`);
    const results = await predict({ model: opts.model, checkpoint: opts.checkpoint, images, topK: opts.top, backend: opts.backend });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
      return;
    }
    for (const r of results) {
      process.stdout.write(`${r.file}: ${r.top.map((t) => `${t.class} (${t.probability.toFixed(3)})`).join(', ')}\n`);
    }
  });
}
