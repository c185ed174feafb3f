/**
 * Crash-safe file system helpers: every file and folder that training writes appears whole or not at all.
 *
 * The recipe is the classic one: write into a temporary name in the same folder, flush it to disk (`fsync`), rename it
 * over the final name (atomic on POSIX file systems), then flush the folder so the rename itself is durable. A process
 * killed at any instant leaves either the old content or the new one, plus at worst a stray temporary that
 * {@link removeStaleTemps} cleans up.
 */
import { lstatSync, promises as fsp, rmdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { listNames, messageOf } from '../data/errors.js';

/** Prefix of every temporary file or folder written by this module. */
export const TEMP_PREFIX = '.tmp-';

/** The exact shape of {@link tempName}'s names: a user's own `.tmp-notes` is never taken for one. */
const TEMP_NAME = /^\.tmp-.+-\d+-[0-9a-f]+$/;

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

/**
 * A file that could not be written: the message, `<file>: cannot write: <reason>`, names the file the caller wanted
 * (never the temporary name written first beside it), and `reason` says why, e.g. `permission denied (EACCES)`.
 */
export class FileWriteError extends Error {
  constructor(
    readonly file: string,
    readonly reason: string,
  ) {
    super(`${file}: cannot write: ${reason}`);
    this.name = 'FileWriteError';
  }
}

/**
 * Replaces the file at `path` with `data` atomically: readers see the old content or the new one, never a mix. A
 * failure is a {@link FileWriteError} naming `path`, and leaves no temporary behind.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = tempName(path);
  try {
    await writeFileSynced(tmp, data);
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw new FileWriteError(path, fsErrorReason(err));
  }
  try {
    await fsyncDir(dirname(path));
  } catch (err) {
    throw new FileWriteError(path, fsErrorReason(err));
  }
}

/**
 * {@link writeFileAtomic}, making `path`'s missing parent folders first ({@link makeFolder}: a {@link FolderError}
 * where one cannot be made); if the write then fails, the folders it made go again.
 */
export async function writeFileAtomicMakingFolders(path: string, data: string | Uint8Array): Promise<void> {
  const created = await makeFolder(dirname(resolve(path)));
  try {
    await writeFileAtomic(path, data);
  } catch (err) {
    await removeCreatedFolders(created);
    throw err;
  }
}

/** How {@link writeDirAtomic} decides that an existing folder may be replaced. */
export interface ReplaceOptions {
  /**
   * Names of files that an existing target may hold and still be replaced, besides the names `fill` writes (e.g. the
   * files of a previous save that this one no longer writes). Only regular files ever count; a sub-folder, a link or
   * any other entry always blocks the replacement.
   */
  owns?: (name: string) => boolean;
  /** What such a folder is, for the refusal message: `<target>: folder is not empty and is not <kind> (holds …)`. */
  kind?: string;
}

/**
 * Thrown when a save would replace something that is not what it writes (`saveModel`'s folder, the file of `saveKerasH5` or
 * `saveKerasH5Weights`): a file where a folder goes or a folder where a file goes, a symbolic link,
 * the current folder, or a folder holding anything the save would not itself rewrite. Nothing was changed. The
 * message is one line, `<target>: <problem>`.
 */
export class TargetInUseError extends Error {
  /** @param target the path as the caller gave it; @param problem what is in the way, e.g. `is a file, not a folder`. */
  constructor(
    readonly target: string,
    readonly problem: string,
  ) {
    super(`${target}: ${problem}`);
    this.name = 'TargetInUseError';
  }
}

/**
 * Checks that `target` (the path as given) may be replaced by a folder of files named by `mayReplace`: it does not
 * exist, or it is a real folder (not a link, not the current folder) holding only regular files that `mayReplace`
 * accepts. Throws {@link TargetInUseError} otherwise (`kind` says what such a folder is); returns the names of the
 * files it holds (none if it is missing). {@link writeDirAtomic} checks this itself; callers check it ahead of long
 * work whose result they will write there.
 */
export async function checkReplaceable(target: string, mayReplace: (name: string) => boolean, kind: string): Promise<string[]> {
  const abs = resolve(target);
  let stat;
  try {
    stat = await fsp.lstat(abs);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new Error(`${target}: ${fsErrorReason(err)}`); // e.g. a path under a file: not a directory (ENOTDIR)
  }
  if (stat.isSymbolicLink()) throw new TargetInUseError(target, 'is a symbolic link, not a folder');
  if (!stat.isDirectory()) throw new TargetInUseError(target, 'is a file, not a folder');
  if ((await fsp.realpath(abs)) === (await fsp.realpath(process.cwd()))) throw new TargetInUseError(target, 'is the current folder; cannot replace it');
  const entries = await fsp.readdir(abs, { withFileTypes: true });
  const foreign = entries
    .filter((e) => !(e.isFile() && mayReplace(e.name)))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort();
  if (foreign.length > 0) throw new TargetInUseError(target, `folder is not empty and is not ${kind} (holds ${listNames(foreign)})`);
  return entries.map((e) => e.name);
}

/**
 * Creates the folder `target` atomically: `fill` writes the content into a fresh temporary folder beside it (it should
 * write its files with {@link writeFileSynced}), which is then renamed to `target`. If `fill` throws, the temporary
 * folder is removed and whatever was at `target` before is left untouched.
 *
 * An existing `target` is replaced only when it is a folder holding nothing but regular files that this write
 * replaces: names `fill` writes, or names `opts.owns` accepts. Anything else (another file, a sub-folder, a `target`
 * that is a file, a symbolic link or the current folder) makes it throw {@link TargetInUseError} and change nothing;
 * the check runs before `fill` (with `opts.owns` only, so it fails fast) and again just before the swap. The replaced
 * folder's files are then deleted one by one, never the folder recursively, so nothing but those files can be lost.
 * Missing parent folders are made, and removed again (while empty) if the write fails.
 */
export async function writeDirAtomic(target: string, fill: (dir: string) => Promise<void>, opts: ReplaceOptions = {}): Promise<void> {
  const abs = resolve(target);
  const owns = opts.owns ?? (() => false);
  const kind = opts.kind ?? 'something this program wrote';
  // Before the work: only a file, a link, the current folder or a sub-folder can be known to block for sure.
  await checkReplaceable(target, (name) => opts.owns === undefined || owns(name), kind);
  const parent = dirname(abs);
  // The folders made for it go again if the write fails.
  const created = await makeFolder(parent);
  const tmp = tempName(abs);
  await fsp.mkdir(tmp).catch(async (err: unknown) => {
    await removeCreatedFolders(created);
    throw new FolderError(target, fsErrorReason(err));
  });
  let old: string | undefined;
  let replaced: string[] = [];
  try {
    await fill(tmp);
    await fsyncDir(tmp);
    const written = new Set(await fsp.readdir(tmp));
    // rename() cannot replace a non-empty folder: move the old one aside first (a crash here leaves only a temp).
    replaced = await checkReplaceable(target, (name) => written.has(name) || owns(name), kind);
    if (await exists(abs)) {
      old = tempName(abs);
      await fsp.rename(abs, old);
    }
    await fsp.rename(tmp, abs);
  } catch (err) {
    await fsp.rm(tmp, { recursive: true, force: true });
    if (old !== undefined && !(await exists(abs))) await fsp.rename(old, abs);
    await removeCreatedFolders(created);
    throw err;
  }
  await fsyncDir(parent);
  if (old !== undefined) {
    // Only the files checked above; if anything else appeared meanwhile, the old folder stays (under its temp name).
    for (const name of replaced) await fsp.unlink(join(old, name)).catch(() => undefined);
    await fsp.rmdir(old).catch(() => undefined);
  }
}

/** Removes the temporary files and folders that an interrupted writer left in `dir`; returns their names. */
export async function removeStaleTemps(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  const stale = names.filter((n) => TEMP_NAME.test(n));
  for (const name of stale) await fsp.rm(join(dir, name), { recursive: true, force: true });
  return stale;
}

/**
 * The reason of a failed file-system call without the path Node appends (callers name the file the user gave, not a
 * temporary beside it): `EACCES: permission denied, open '/x/.tmp-…'` becomes `permission denied (EACCES)`. Of a
 * {@link FileWriteError}, its `reason`.
 */
export function fsErrorReason(err: unknown): string {
  if (err instanceof FileWriteError) return err.reason;
  const e = err as NodeJS.ErrnoException | undefined;
  if (typeof e?.code !== 'string' || typeof e.syscall !== 'string') return err instanceof Error ? err.message : String(err);
  const text = e.message.replace(new RegExp(`^${e.code}: `), '').replace(/, \w+ '.*$/s, '');
  return `${text} (${e.code})`;
}

/** A folder that could not be created: the message names it, `reason` says why. */
export class FolderError extends Error {
  constructor(readonly folder: string, readonly reason: string) {
    super(`${folder}: cannot create folder: ${reason}`);
    this.name = 'FolderError';
  }
}

/**
 * Creates the folder `path` and its missing parents, one at a time, or throws a {@link FolderError}. Written out
 * instead of `mkdir(path, { recursive: true })` because Node 20's recursive mkdir never returns for a path under
 * /proc (it loops on the ENOENT), and its errors name whichever parent failed rather than `path`.
 *
 * Returns the folders it created, outermost first (none when `path` existed already), so that a caller whose write
 * then fails can take them away again with {@link removeCreatedFolders}. If it fails part-way, it removes the ones it
 * had created before it throws.
 */
export async function makeFolder(path: string): Promise<string[]> {
  const missing = missingFoldersSync(path);
  const dir = missing.length > 0 ? dirname(missing[0]) : resolve(path);
  const stat = await fsp.stat(dir).catch(() => undefined); // the nearest that exists (a link is followed)
  if (stat === undefined || !stat.isDirectory()) throw new FolderError(path, `${dir} is not a folder`);
  const created: string[] = [];
  for (const folder of missing) {
    try {
      await fsp.mkdir(folder);
      created.push(folder);
    } catch (err) {
      // Made meanwhile by someone else: theirs, not ours to remove.
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await fsp.stat(folder)).isDirectory()) continue;
      await removeCreatedFolders(created);
      throw new FolderError(path, fsErrorReason(err));
    }
  }
  return created;
}

/**
 * Removes the folders that {@link makeFolder} reported creating, innermost first: for a write that failed after it
 * made them, so that nothing of the failed command is left behind. Folders are only ever removed when empty: one that
 * holds something (put there meanwhile) stays, and so do the folders above it. Never throws.
 */
export async function removeCreatedFolders(created: readonly string[]): Promise<void> {
  removeCreatedFoldersSync(created);
}

/**
 * The folders that {@link makeFolder} would create for `path`: `path` and its missing parents, outermost first (none
 * when `path` exists). Synchronous, for a command that must know before its work makes them which folders are its
 * own, to remove them from a signal handler (see {@link removeCreatedFoldersSync}).
 */
export function missingFoldersSync(path: string): string[] {
  const missing: string[] = [];
  let dir = resolve(path);
  while (dirname(dir) !== dir) {
    try {
      lstatSync(dir);
      break;
    } catch {
      missing.unshift(dir);
      dir = dirname(dir);
    }
  }
  return missing;
}

/**
 * {@link removeCreatedFolders}, synchronously (for a signal handler): removes the given folders innermost first while
 * they are empty, stopping at the first that is not. Returns the folders it removed. Never throws.
 */
export function removeCreatedFoldersSync(created: readonly string[]): string[] {
  const removed: string[] = [];
  for (const folder of [...created].reverse()) {
    try {
      rmdirSync(folder);
    } catch {
      break;
    }
    removed.push(folder);
  }
  return removed;
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

/** The first `bytes` bytes of `file` (fewer if it is shorter); a file that cannot be read is a one-line error. */
export async function readHead(file: string, bytes: number): Promise<Buffer> {
  let handle;
  try {
    handle = await fsp.open(file, 'r');
    const head = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(head, 0, bytes, 0);
    return head.subarray(0, bytesRead);
  } catch (err) {
    throw new Error(`${file}: cannot read: ${messageOf(err)}`);
  } finally {
    await handle?.close();
  }
}
