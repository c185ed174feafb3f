/**
 * Crash-safe file system helpers: every file and folder that training writes appears whole or not at all.
 *
 * The recipe is the classic one: write into a temporary name in the same folder, flush it to disk (`fsync`), rename it
 * over the final name (atomic on POSIX file systems), then flush the folder so the rename itself is durable. A process
 * killed at any instant leaves either the old content or the new one, plus at worst a stray temporary that
 * {@link removeStaleTemps} cleans up.
 */
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** Prefix of every temporary file or folder written by this module. */
export const TEMP_PREFIX = '.tmp-';

function tempName(finalPath: string): string {
  return join(dirname(finalPath), `${TEMP_PREFIX}${basename(finalPath)}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Writes `data` to `path` and flushes it to disk before returning (no rename: the caller owns atomicity). */
export async function writeFileSynced(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await fsp.open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (new names, renames) to disk. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Replaces the file at `path` with `data` atomically: readers see the old content or the new one, never a mix. */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFileSynced(tmp, data);
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
  await fsyncDir(dirname(path));
}

/**
 * Creates the folder `target` atomically: `fill` writes the content into a fresh temporary folder beside it (it should
 * write its files with {@link writeFileSynced}), which is then renamed to `target`. If `fill` throws, the temporary
 * folder is removed and whatever was at `target` before is left untouched. An existing `target` is replaced.
 */
export async function writeDirAtomic(target: string, fill: (dir: string) => Promise<void>): Promise<void> {
  const parent = dirname(target);
  await fsp.mkdir(parent, { recursive: true });
  const tmp = tempName(target);
  await fsp.mkdir(tmp);
  let old: string | undefined;
  try {
    await fill(tmp);
    await fsyncDir(tmp);
    // rename() cannot replace a non-empty folder: move the old one aside first (a crash here leaves only a temp).
    if (await exists(target)) {
      old = tempName(target);
      await fsp.rename(target, old);
    }
    await fsp.rename(tmp, target);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    if (old !== undefined && !(await exists(target))) await fsp.rename(old, target);
    throw err;
  }
  await fsyncDir(parent);
  if (old !== undefined) await fsp.rm(old, { recursive: true, force: true });
}

/** Removes the temporary files and folders that an interrupted writer left in `dir`; returns their names. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => n.startsWith(TEMP_PREFIX));
  for (const name of stale) await fsp.rm(join(dir, name), { recursive: true, force: true });
  return stale;
}

/** Whether anything exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}
