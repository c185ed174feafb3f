/**
 * `resnet predict`: the most probable classes of image files (or of the images in folders) under a trained model,
 * with their probabilities.
 */
import { extname } from 'node:path';
import { Command } from 'commander';
import { initBackend, type BackendChoice } from '../../backend/index.js';
import { checkSheetTarget, imagesShown, listImageFiles, predictEach, SHEET_EXTENSIONS, SHEET_MAX_IMAGES, writePredictionSheet, type CheckpointChoice, type ImageFailure, type Prediction } from '../../train/index.js';
import { CliError, parsePositiveInt } from '../common.js';
import { addBackendOption, addCheckpointOption, checkCheckpointOption, MODEL_OPTION_HELP } from '../options.js';

interface PredictCliOptions {
  model: string;
  top: number;
  json?: boolean;
  sheet?: string;
  backend: BackendChoice;
  checkpoint: CheckpointChoice;
}

/** Registers `resnet predict` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('predict')
    .description('Predict the top classes of image files (JPEG, PNG, WebP) with a trained model.')
    .argument('<image...>', 'image files, or folders of them (the image files directly inside, sorted; not sub-folders)')
    .requiredOption('--model <path>', MODEL_OPTION_HELP);
  addCheckpointOption(cmd)
    .option('--top <k>', 'how many classes to show per image', parsePositiveInt, 3)
    .option('--json', 'print the result as JSON')
    .option('--sheet <file>', `also draw the images with their predictions as a contact sheet (.png or .svg; the first ${SHEET_MAX_IMAGES} images)`)
    .addHelpText(
      'after',
      `
Each image is stretched to the model's input size (height x width) as a whole:
no crop, the aspect ratio is not kept, as Keras's image_dataset_from_directory
does by default. Photos are turned upright by their EXIF orientation first.

A file that cannot be read (missing, not an image, corrupt) is named on stderr,
one line each; the other images are still predicted, and the exit code is 1.
With --json it is an entry {"file", "error"} in the list, in its place.

Examples:
  resnet predict --model runs/signs photo.jpg   (the run's latest checkpoint)
  resnet predict --model runs/signs --checkpoint best photos/
  resnet predict --model resnet50_signs.h5 --top 1 --json a.png b.png
  resnet predict --model runs/signs photos/ --sheet predictions.png`,
    );
  addBackendOption(cmd).action(async (images: string[], opts: PredictCliOptions, command: Command) => {
    await checkCheckpointOption(command, opts.model);
    if (opts.sheet !== undefined) {
      if (!SHEET_EXTENSIONS.includes(extname(opts.sheet).toLowerCase())) throw new CliError(`--sheet ${opts.sheet}: give a .png or .svg file`, 2);
      // Refused before any work: a folder, a path under a file, one of the images themselves.
      const sheet = opts.sheet;
      await checkSheetTarget(sheet, await listImageFiles(images)).catch((err: unknown) => {
        throw new CliError(`--sheet ${err instanceof Error ? err.message : String(err)}`, 2);
      });
    }
    // Which backend runs it, on stderr so that --json output stays clean.
    process.stderr.write(`backend: ${await initBackend(opts.backend)}\n`);
    // --checkpoint only when given: the library refuses one for a model that is not a training run folder.
    const checkpoint = command.getOptionValueSource('checkpoint') === 'cli' ? opts.checkpoint : undefined;
    const { files, predictions, failed } = await predictEach({ model: opts.model, checkpoint, images, topK: opts.top, backend: opts.backend });
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(inFileOrder(files, predictions, failed), null, 2)}\n`);
    } else {
      for (const r of predictions) {
        process.stdout.write(`${r.file}: ${r.top.map((t) => `${t.class} (${t.probability.toFixed(3)})`).join(', ')}\n`);
      }
    }
    if (opts.sheet !== undefined && predictions.length > 0) {
      await writePredictionSheet(opts.sheet, predictions);
      process.stderr.write(`sheet: ${opts.sheet} (${imagesShown(Math.min(predictions.length, SHEET_MAX_IMAGES), predictions.length)})\n`);
    }
    // One line per file that could not be read; the last goes through main's error line, which exits 1.
    const last = failed.pop();
    for (const f of failed) process.stderr.write(`resnet: ${f.file}: ${f.error}\n`);
    if (last !== undefined) throw new CliError(`${last.file}: ${last.error}`, 1);
  });
}

/**
 * The predictions and the failures as one list in the order of `files` (each of the two lists is in that order):
 * what `--json` prints, an entry `{file, top}` per image predicted and `{file, error}` per file that could not be read.
 */
function inFileOrder(files: string[], predictions: Prediction[], failed: ImageFailure[]): (Prediction | ImageFailure)[] {
  const entries: (Prediction | ImageFailure)[] = [];
  let p = 0;
  let f = 0;
  for (const file of files) {
    if (p < predictions.length && predictions[p].file === file) entries.push(predictions[p++]);
    else entries.push(failed[f++]);
  }
  return entries;
}
