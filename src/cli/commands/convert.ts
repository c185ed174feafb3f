/**
 * `resnet convert`: converts a model between the TensorFlow.js folder layout (`model.json` + `weights.bin`) and a
 * Keras 2 HDF5 file (`.h5` or `.hdf5`, what `tf.keras.models.load_model` reads). The direction follows `--out`: a path
 * ending in `.h5` or `.hdf5` gets a Keras file, anything else a TensorFlow.js model folder. Class names and the other
 * project metadata travel both ways (`userDefinedMetadata` ↔ the h5 root attribute `resnet_metadata`).
 */
import { Command } from 'commander';
import { type BackendChoice, initBackend } from '../../backend/index.js';
import { isKerasH5Path, saveKerasH5 } from '../../io/keras_h5.js';
import { type CheckpointChoice, loadModel, modelMetadata, resolveModelDir, saveModel } from '../../train/index.js';
import { TargetInUseError } from '../../train/fsutil.js';
import { CliError } from '../common.js';
import { addBackendOption, addCheckpointOption, checkCheckpointOption, MODEL_OPTION_HELP } from '../options.js';

interface ConvertCliOptions {
  model: string;
  checkpoint: CheckpointChoice;
  out: string;
  backend: BackendChoice;
}

/** Registers `resnet convert` on the program. */
export function register(program: Command): void {
  const cmd = program
    .command('convert')
    .description('Convert a model between the TensorFlow.js folder format and a Keras 2 HDF5 file (.h5 or .hdf5), by the --out extension.')
    .requiredOption('--model <path>', MODEL_OPTION_HELP);
  addCheckpointOption(cmd)
    .requiredOption('--out <path>', 'a .h5 or .hdf5 file (Keras HDF5) or a folder (TensorFlow.js model.json + weights.bin)')
    .addHelpText(
      'after',
      `
Examples:
  resnet convert --model runs/signs --out signs.h5      run's latest checkpoint to Keras
  resnet convert --model runs/signs --checkpoint best --out best.h5
  resnet convert --model resnet50_signs.h5 --out model  Keras file to a tfjs folder`,
    );
  addBackendOption(cmd).action(async (opts: ConvertCliOptions, command: Command) => {
    await checkCheckpointOption(command, opts.model);
    if (/\.keras$/i.test(opts.out)) {
      throw new CliError(`${opts.out}: the .keras (Keras 3 zip) format is not supported; use a .h5 (or .hdf5) file or a folder`, 2);
    }
    await initBackend(opts.backend);
    // Whatever --model is (a run folder, a pointer file, a model folder or file, a Keras file), as evaluate and predict.
    const model = await loadModel(await resolveModelDir(opts.model, opts.checkpoint));
    // The writers make the folders --out needs, and remove them again if the write fails.
    try {
      const metadata = modelMetadata(model);
      if (isKerasH5Path(opts.out)) {
        await saveKerasH5(model, opts.out, { metadata });
        process.stdout.write(`wrote ${opts.out} (Keras 2 HDF5, ${model.layers.length} layers, ${model.countParams()} parameters)\n`);
      } else {
        await saveModel(model, opts.out, metadata);
        process.stdout.write(`wrote ${opts.out} (TensorFlow.js model folder, ${model.layers.length} layers, ${model.countParams()} parameters)\n`);
      }
    } catch (err) {
      // What is at --out and is not a model (a folder of other files, a file that is not HDF5) is never replaced:
      // that is a bad --out, not a failure.
      if (err instanceof TargetInUseError) throw new CliError(`${err.message}; choose another --out`, 2);
      throw err;
    } finally {
      model.dispose();
    }
  });
}
