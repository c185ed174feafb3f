/**
 * Options shared by several `resnet` commands: `--backend`, and `--model` with `--checkpoint` for the commands that
 * load a trained model (evaluate, predict, convert, summary, plot).
 */
import { Command, Option } from 'commander';
import type { BackendChoice } from '../backend/index.js';
import { CHECKPOINT_CHOICES, checkpointInapplicable } from '../train/checkpoint.js';
import { CliError } from './common.js';

/** The backends a command can ask for. */
export const BACKEND_CHOICES: BackendChoice[] = ['auto', 'onednn', 'cpu'];

/** Adds `--backend auto|onednn|cpu` (default auto). */
export function addBackendOption(cmd: Command): Command {
  return cmd.addOption(new Option('--backend <name>', 'tfjs backend: auto picks the fastest available').choices(BACKEND_CHOICES).default('auto'));
}

/** Help of `--model <path>`: the kinds of model path that work. */
export const MODEL_OPTION_HELP =
  'a saved model folder (model.json), a training run folder (its latest or --checkpoint best checkpoint) or a Keras .h5/.hdf5 file';

/**
 * Adds `--checkpoint <latest|best>` (default latest) to a command that loads `--model`: which checkpoint of a training
 * run folder to load.
 */
export function addCheckpointOption(cmd: Command): Command {
  return cmd.addOption(
    new Option('--checkpoint <which>', 'for a training run folder: its latest checkpoint or its best by validation loss').choices(CHECKPOINT_CHOICES).default('latest'),
  );
}

/**
 * Refuses, as a usage error (exit 2), a `--checkpoint` given on the command line when `--model` exists and is not a
 * training run folder (a saved model folder, a model file, a run's pointer file): there it has no checkpoint to pick
 * and would be silently ignored. A missing `--model` is left to the loader, which names it.
 */
export async function checkCheckpointOption(command: Command, model: string): Promise<void> {
  if (command.getOptionValueSource('checkpoint') !== 'cli') return;
  if (!(await checkpointInapplicable(model))) return;
  throw new CliError(`--checkpoint applies to training run folders, and ${model} is not one: leave --checkpoint out, or give the run folder as --model`, 2);
}
