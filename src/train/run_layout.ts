/**
 * The layout of a training run folder, as `train` writes it (see checkpoint.ts for how it is written):
 *
 * ```
 * <run>/checkpoints/epoch-0003/   a checkpoint: a saved model plus optimizer state and state.json
 * <run>/checkpoints/latest        pointer file: the folder name of the newest complete checkpoint, `epoch-0003\n`
 * <run>/checkpoints/best          pointer file: the folder name of the best checkpoint
 * ```
 *
 * Reading the pointers needs nothing of the model code, so both the checkpoint writer (checkpoint.ts) and the model
 * loader (io.ts, which follows a pointer file given as a model path) use this module.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { exists } from './fsutil.js';

/** Sub-folder of a run folder that holds the checkpoints. */
export const CHECKPOINTS_DIR = 'checkpoints';
/** Pointer file naming the newest complete checkpoint. */
export const LATEST_FILE = 'latest';
/** Pointer file naming the best checkpoint. */
export const BEST_FILE = 'best';
/** Sub-folder of a run folder that holds the report (report.md, curves, confusion matrix). */
export const REPORT_DIR = 'report';
/** Training state file inside a checkpoint; its presence marks the checkpoint complete. */
export const STATE_JSON = 'state.json';

/** Whether `name` is a checkpoint folder's name, such as `epoch-0003`. */
export function isCheckpointName(name: string): boolean {
  return /^epoch-\d+$/.test(name);
}

/**
 * The checkpoint folder that pointer `file` of a run names with `name` (its content), if `isComplete` says the
 * folder holds a state; otherwise an Error naming the pointer and the problem.
 */
export function pointedCheckpoint(runDir: string, file: string, name: string, isComplete: (stateFile: string) => boolean): string | Error {
  const pointer = join(runDir, CHECKPOINTS_DIR, file);
  if (!isCheckpointName(name)) return new Error(`${pointer}: not a checkpoint pointer: '${name.slice(0, 40)}'`);
  const dir = join(runDir, CHECKPOINTS_DIR, name);
  return isComplete(join(dir, STATE_JSON)) ? dir : new Error(`${pointer}: names ${name}, which is missing or incomplete`);
}

/**
 * The checkpoint folder that pointer `file` (`latest` or `best`) of the run `runDir` names, or undefined when the run
 * has no such pointer. A pointer naming no complete checkpoint is an error naming the pointer.
 */
export async function readPointer(runDir: string, file: string): Promise<string | undefined> {
  let name: string;
  try {
    name = (await fsp.readFile(join(runDir, CHECKPOINTS_DIR, file), 'utf8')).trim();
  } catch {
    return undefined;
  }
  const complete = await exists(join(runDir, CHECKPOINTS_DIR, name, STATE_JSON));
  const dir = pointedCheckpoint(runDir, file, name, () => complete);
  if (dir instanceof Error) throw dir;
  return dir;
}

/**
 * If `path` is a run's pointer file (`<run>/checkpoints/latest` or `<run>/checkpoints/best`), the checkpoint folder it
 * names; undefined for any other path. A pointer naming no complete checkpoint is an error naming the pointer.
 */
export async function pointerTarget(path: string): Promise<string | undefined> {
  const abs = resolve(path);
  const file = basename(abs);
  if ((file !== LATEST_FILE && file !== BEST_FILE) || basename(dirname(abs)) !== CHECKPOINTS_DIR) return undefined;
  const stat = await fsp.stat(abs).catch(() => undefined);
  if (stat === undefined || !stat.isFile()) return undefined;
  return readPointer(dirname(dirname(abs)), file);
}
