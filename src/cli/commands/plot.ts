/**
 * `resnet plot`: draws a ResNet's layer graph like Keras's `plot_model` (one box per layer with its name, class and
 * output shape; each residual block in a labelled cluster), as SVG or PNG.
 */
import { promises as fs, statSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { renderModel, type PlotFormat } from '../../model/index.js';
import { CliError } from '../common.js';
import { addModelOptions, buildModelFromOptions, type ModelCliOptions } from './summary.js';

interface PlotCliOptions extends ModelCliOptions {
  out: string;
  format?: PlotFormat;
  rankdir: 'TB' | 'LR';
}

/** The format to write: `--format` if given, else the output file's extension. */
function chooseFormat(out: string, format: PlotFormat | undefined): PlotFormat {
  if (format !== undefined) return format;
  const ext = path.extname(out).toLowerCase();
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  throw new CliError(`${out}: cannot tell the format from the extension '${ext}'; use .svg or .png, or --format`, 2);
}

/** Writes `data` to `file` atomically: a temporary file in the same directory, then a rename. */
async function writeAtomic(file: string, data: Buffer): Promise<void> {
  const dir = path.dirname(path.resolve(file));
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new CliError(`${file}: directory ${dir} does not exist`, 2);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  try {
    await fs.writeFile(tmp, data);
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    const reason = err instanceof Error ? err.message : String(err);
    throw new CliError(`${file}: cannot write: ${reason}`, 1);
  }
}

/** Registers `resnet plot` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('plot')
    .description("Draw a model's layer graph (like Keras plot_model) as SVG or PNG, each residual block in a labelled box.")
    .requiredOption('--out <file>', 'output image file (.svg or .png)')
    .addOption(new Option('--format <format>', 'image format (default: from the --out extension)').choices(['svg', 'png']))
    .addOption(new Option('--rankdir <dir>', 'direction: TB top to bottom, LR left to right').choices(['TB', 'LR']).default('TB'));
  addModelOptions(cmd).action(async (opts: PlotCliOptions) => {
    const format = chooseFormat(opts.out, opts.format);
    const model = await buildModelFromOptions(opts);
    let image: Buffer;
    try {
      image = await renderModel(model, format, { rankdir: opts.rankdir });
    } catch (err) {
      throw new CliError(`${opts.out}: cannot draw the model: ${err instanceof Error ? err.message : String(err)}`, 1);
    } finally {
      model.dispose();
    }
    await writeAtomic(opts.out, image);
    process.stdout.write(`wrote ${opts.out} (${format}, ${model.layers.length} layers)\n`);
  });
}
