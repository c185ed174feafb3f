/**
 * `resnet plot`: draws a ResNet's layer graph like Keras's `plot_model` (one box per layer with its name, class and
 * output shape; each residual block in a labelled cluster), as SVG or PNG: one built from `--arch` and the rest, or a
 * saved one (`--model`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { renderModel, type PlotFormat } from '../../model/index.js';
import { FolderError, fsErrorReason, writeFileAtomicMakingFolders } from '../../train/fsutil.js';
import { CliError } from '../common.js';
import { addModelOptions, modelFromOptions, type ModelCliOptions } from './summary.js';

interface PlotCliOptions extends ModelCliOptions {
  out: string;
  format?: PlotFormat;
  rankdir: 'TB' | 'LR';
}

/** Extensions of image formats: an `--out` ending in one of them must agree with `--format`. */
const IMAGE_EXTENSIONS = new Set(['.svg', '.svgz', '.png', '.jpg', '.jpeg', '.gif', '.webp', '.bmp', '.tif', '.tiff', '.pdf', '.eps', '.avif']);

/**
 * The format to write: `--format` if given, else the output file's extension. An `--out` whose extension names
 * another image format than `--format` (PNG bytes in `x.svg`) is a usage error.
 */
function chooseFormat(out: string, format: PlotFormat | undefined): PlotFormat {
  const ext = path.extname(out);
  const lower = ext.toLowerCase();
  if (format !== undefined) {
    if (IMAGE_EXTENSIONS.has(lower) && lower !== `.${format}`) {
      const other: PlotFormat = format === 'svg' ? 'png' : 'svg';
      throw new CliError(`${out}: the extension '${ext}' contradicts --format ${format}; use a .${format} file or --format ${other}`, 2);
    }
    return format;
  }
  if (lower === '.svg') return 'svg';
  if (lower === '.png') return 'png';
  throw new CliError(`${out}: cannot tell the format from the extension '${ext}'; use .svg or .png, or --format`, 2);
}

/**
 * Writes `data` to `file` atomically (a temporary file beside it, then a rename), creating missing parent folders.
 * If the write fails, the folders it created go again.
 */
async function writeOutput(file: string, data: Buffer): Promise<void> {
  await writeFileAtomicMakingFolders(file, data).catch((err: unknown) => {
    const reason = err instanceof FolderError ? `cannot create the folder ${path.dirname(path.resolve(file))}: ${err.reason}` : fsErrorReason(err);
    throw new CliError(`${file}: cannot write: ${reason}`, 1);
  });
}

/** Registers `resnet plot` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('plot')
    .description("Draw a model's layer graph (like Keras plot_model) as SVG or PNG, each residual block in a labelled box.")
    .requiredOption('--out <file>', 'output image file (.svg or .png; missing folders are created)')
    .addOption(new Option('--format <format>', 'image format (default: from the --out extension)').choices(['svg', 'png']))
    .addOption(new Option('--rankdir <dir>', 'direction: TB top to bottom, LR left to right').choices(['TB', 'LR']).default('TB'))
    .addHelpText(
      'after',
      `
Examples:
  resnet plot --out resnet50.svg
  resnet plot --arch resnet18 --input 64,64,3 --rankdir LR --out plots/r18.png
  resnet plot --model runs/signs --out signs.svg   a trained model`,
    );
  addModelOptions(cmd).action(async (opts: PlotCliOptions, command: Command) => {
    const format = chooseFormat(opts.out, opts.format);
    const model = await modelFromOptions(opts, command);
    let image: Buffer;
    try {
      image = await renderModel(model, format, { rankdir: opts.rankdir });
    } catch (err) {
      throw new CliError(`${opts.out}: cannot draw the model: ${err instanceof Error ? err.message : String(err)}`, 1);
    } finally {
      model.dispose();
    }
    await writeOutput(opts.out, image);
    process.stdout.write(`wrote ${opts.out} (${format}, ${model.layers.length} layers)\n`);
  });
}
