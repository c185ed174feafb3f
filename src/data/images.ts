/**
 * Image files (JPEG, PNG, WebP) decoded with sharp: one at a time for predictions, lazily per batch for image folders.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { dirname, extname, join, relative } from 'node:path';
import sharp from 'sharp';
import type * as tf from '@tensorflow/tfjs';
import { DataError, listNames, messageOf } from './errors.js';
import type { ExampleSource, RawImages } from './dataset.js';
import { toImageTensor } from './dataset.js';
import type { DataPart } from './types.js';

/** File names taken as images in a folder (case-insensitive). */
export const IMAGE_EXTENSIONS = /\.(jpe?g|png|webp)$/i;

/** Names that operating systems leave in folders (besides hidden `.` files): never data, and never reported. */
const OS_JUNK = /^(thumbs\.db|ehthumbs\.db|desktop\.ini|__MACOSX|\$RECYCLE\.BIN|System Volume Information)$/i;

/**
 * Whether a folder entry is passed over silently: hidden names (`.DS_Store`, macOS's `._photo.jpg`, `.git`) and what
 * operating systems leave behind (`Thumbs.db`, `desktop.ini`, `__MACOSX/`).
 */
export function isIgnoredEntry(name: string): boolean {
  return name.startsWith('.') || OS_JUNK.test(name);
}

/** What a folder holds, as data: its image files, its other files and its sub-folders (ignored entries left out). */
export interface FolderListing {
  /** The image files (by extension, {@link IMAGE_EXTENSIONS}), sorted by name, as paths under the folder. */
  images: string[];
  /** The names of the other files, sorted. */
  otherFiles: string[];
  /** The names of the sub-folders (links to folders included), sorted. */
  folders: string[];
}

/** Lists folder `dir` as a {@link FolderListing}, leaving out the entries {@link isIgnoredEntry} names. */
export async function listFolder(dir: string): Promise<FolderListing> {
  const listing: FolderListing = { images: [], otherFiles: [], folders: [] };
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (isIgnoredEntry(e.name)) continue;
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(join(dir, e.name)).catch(() => undefined))?.isDirectory());
    if (isDir) listing.folders.push(e.name);
    else if (IMAGE_EXTENSIONS.test(e.name)) listing.images.push(e.name);
    else listing.otherFiles.push(e.name);
  }
  listing.images = listing.images.sort().map((name) => join(dir, name));
  listing.otherFiles.sort();
  listing.folders.sort();
  return listing;
}

/**
 * The image files directly in folder `dir` (by extension, {@link IMAGE_EXTENSIONS}; hidden files, sub-folders and
 * other files left out), sorted by name, as paths under `dir`.
 */
export async function imageFilesIn(dir: string): Promise<string[]> {
  return (await listFolder(dir)).images;
}

/** Default delivered shape for image folders when no input shape is given: 64x64 RGB. */
export const FOLDER_DEFAULT_SHAPE: [number, number, number] = [64, 64, 3];

/** The image format that a file's first bytes announce, if any of JPEG, PNG and WebP. */
export function sniffImageFormat(head: Uint8Array): 'jpeg' | 'png' | 'webp' | undefined {
  const starts = (bytes: number[], at = 0) => bytes.every((b, k) => head[at + k] === b);
  if (starts([0xff, 0xd8, 0xff])) return 'jpeg';
  if (starts([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (starts([0x52, 0x49, 0x46, 0x46]) && starts([0x57, 0x45, 0x42, 0x50], 8)) return 'webp';
  return undefined;
}

/** HEIF brands (ISO/IEC 23008-12) of HEIC photos (iPhones' default) and of AVIF images, at bytes 8-11 of an `ftyp` box. */
const HEIF_BRANDS: Record<string, string> = {
  heic: 'HEIC', heix: 'HEIC', hevc: 'HEIC', hevx: 'HEIC', heim: 'HEIC', heis: 'HEIC', mif1: 'HEIF', msf1: 'HEIF',
  avif: 'AVIF', avis: 'AVIF',
};

/**
 * The image format of another kind than JPEG, PNG and WebP that a file's first bytes (at least 12) announce, for the
 * message that refuses it: GIF, TIFF, BMP, HEIC, HEIF or AVIF; undefined if none of them.
 */
export function sniffUnsupportedImage(head: Uint8Array): string | undefined {
  const text = (from: number, to: number) => String.fromCharCode(...head.subarray(from, to));
  if (text(0, 6) === 'GIF87a' || text(0, 6) === 'GIF89a') return 'GIF';
  if (text(0, 4) === 'II*\0' || text(0, 4) === 'MM\0*') return 'TIFF';
  if (text(0, 2) === 'BM' && head.length >= 14 && head[6] === 0 && head[7] === 0 && head[8] === 0 && head[9] === 0) return 'BMP';
  if (text(4, 8) === 'ftyp') return HEIF_BRANDS[text(8, 12)];
  return undefined;
}

/**
 * Throws `DataError` unless the file exists and starts like a JPEG, PNG or WebP image. The problem says an empty file
 * is empty, and names the format of an image of another kind (`GIF images are not supported: use JPEG, PNG or WebP`).
 */
export async function checkImageFile(file: string): Promise<void> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(file, code === 'ENOENT' ? 'no such file' : `cannot read: ${messageOf(err)}`);
  }
  try {
    const head = new Uint8Array(16);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    if (bytesRead === 0) throw new DataError(file, 'empty file (0 bytes): not an image');
    const read = head.subarray(0, bytesRead);
    if (bytesRead < 12 || !sniffImageFormat(read)) {
      const other = sniffUnsupportedImage(read);
      if (other !== undefined) throw new DataError(file, `${other} images are not supported: use JPEG, PNG or WebP`);
      throw new DataError(file, 'not an image: its contents are not JPEG, PNG or WebP');
    }
  } catch (err) {
    if (err instanceof DataError) throw err;
    throw new DataError(file, `cannot read: ${messageOf(err)}`);
  } finally {
    await fh.close();
  }
}

/**
 * Decodes an image file to 8-bit pixels of `[h, w, c]`: turned upright by its EXIF orientation (as a photo viewer
 * shows it; phones store photos sideways with an Orientation tag), alpha dropped, stretched to h x w as a whole (no
 * crop, the aspect ratio not kept, as Keras's `image_dataset_from_directory` resizes by default), converted to RGB
 * (c = 3) or grayscale (c = 1).
 */
export async function decodeImage(file: string, shape: readonly [number, number, number]): Promise<Uint8Array> {
  const [h, w, c] = shape;
  try {
    // autoOrient applies the Orientation tag as the image is read, so before the resize.
    const img = sharp(file, { autoOrient: true }).removeAlpha();
    if (c === 1) img.grayscale();
    else img.toColourspace('srgb');
    img.resize(w, h, { fit: 'fill' }).raw({ depth: 'uchar' });
    const { data, info } = await img.toBuffer({ resolveWithObject: true });
    if (info.width !== w || info.height !== h || info.channels !== c) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (err) {
    // libvips reports a damaged file as a list of lines, often the same ones again: each once, on one line.
    const raw = err instanceof Error ? err.message : String(err);
    const lines = [...new Set(raw.split('\n').map((l) => l.trim()).filter((l) => l !== ''))];
    throw new DataError(file, `cannot decode image: ${messageOf(lines.join('; '))}`);
  }
}

/** Checks an `[h, w, c]` shape for images: positive whole sizes, 1 or 3 channels. */
export function checkImageShape(path: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
    throw new DataError(path, `input shape [${shape.join(', ')}] must be three positive whole numbers [h, w, c]`);
  }
  if (shape[2] !== 1 && shape[2] !== 3) {
    throw new DataError(path, `input shape ${shape.join('x')} has ${shape[2]} channels; only 1 (grayscale) or 3 (RGB) are supported`);
  }
  return [shape[0], shape[1], shape[2]];
}

/** An image file that could not be loaded, and why. */
export interface ImageFailure {
  /** The file, as it was given. */
  file: string;
  /**
   * The problem, one line, without the file name: `no such file`, `empty file (0 bytes): not an image`, `GIF images
   * are not supported: use JPEG, PNG or WebP` (likewise TIFF, BMP, HEIC, HEIF, AVIF), `not an image: its contents are
   * not JPEG, PNG or WebP`, `cannot decode image: ...`, `cannot read: ...`.
   */
  error: string;
}

/** What {@link loadImagesEach} loaded and what it could not. */
export interface LoadedImages {
  /** The files that loaded, in the order given. */
  files: string[];
  /** Their images as one float32 batch `[files.length, h, w, c]` in [0, 1]; undefined when no file loaded. */
  images: tf.Tensor4D | undefined;
  /** The files that could not be loaded, in the order given, each with its problem. */
  failed: ImageFailure[];
}

/** The problem an error from loading `file` states, without the file name that a {@link DataError} starts with. */
function problemOf(file: string, err: unknown): string {
  const message = messageOf(err);
  return err instanceof DataError && err.path === file && message.startsWith(`${file}: `) ? message.slice(file.length + 2) : message;
}

/**
 * Loads each image file (JPEG, PNG, WebP) it can, stretched to `shape` as {@link loadImages} does, and lists those it cannot (missing, not
 * an image, undecodable) instead of failing: for batch work over a folder of photos, where one bad file should not
 * cost the others. The caller disposes `images`.
 */
export async function loadImagesEach(paths: string[], shape: [number, number, number]): Promise<LoadedImages> {
  checkImageShape(paths[0] ?? 'images', shape);
  const settled = await decodeEach(paths, shape, true);
  const files: string[] = [];
  const pixels: Uint8Array[] = [];
  const failed: ImageFailure[] = [];
  settled.forEach((r, i) => {
    if (r.status === 'fulfilled') {
      files.push(paths[i]);
      pixels.push(r.value);
    } else {
      failed.push({ file: paths[i], error: problemOf(paths[i], r.reason) });
    }
  });
  if (files.length === 0) return { files, images: undefined, failed };
  return { files, images: toImageTensor(stackImages(pixels, shape), shape), failed };
}

/**
 * Decodes each file stretched to `shape` (after {@link checkImageFile} when `check`), all at once, each settled on its
 * own. libvips keeps one error buffer per process, so a file that failed while others were decoding may carry their
 * errors in its message too: each failed file is decoded again alone, for its own words. (Failures are rare.)
 */
async function decodeEach(paths: readonly string[], shape: [number, number, number], check: boolean): Promise<PromiseSettledResult<Uint8Array>[]> {
  const decode = async (p: string): Promise<Uint8Array> => {
    if (check) await checkImageFile(p);
    return decodeImage(p, shape);
  };
  const settled = await Promise.allSettled(paths.map(decode));
  if (paths.length > 1) {
    for (const [i, r] of settled.entries()) {
      if (r.status === 'fulfilled') continue;
      try {
        settled[i] = { status: 'fulfilled', value: await decode(paths[i]) };
      } catch (err) {
        settled[i] = { status: 'rejected', reason: err };
      }
    }
  }
  return settled;
}

/** Decoded images of `shape` ([h, w, c] each) as one batch of raw pixels. */
function stackImages(pixels: readonly Uint8Array[], shape: readonly number[]): RawImages {
  const size = shape[0] * shape[1] * shape[2];
  const data = new Uint8Array(pixels.length * size);
  pixels.forEach((d, i) => data.set(d, i * size));
  return { data, shape: [pixels.length, shape[0], shape[1], shape[2]] };
}

/**
 * Loads image files (JPEG, PNG, WebP) as one float32 batch `[n, h, w, c]` with values in [0, 1], in the order given.
 * Each image is turned upright by its EXIF orientation, its alpha dropped, stretched to `shape` as a whole (no crop,
 * the aspect ratio not kept, as Keras's `image_dataset_from_directory` resizes by default) and converted to RGB
 * (c = 3) or grayscale (c = 1). Throws `DataError` naming the first file that is missing, not an image or
 * undecodable (`predictEach` predicts the readable ones of a list instead). The caller disposes the tensor.
 */
export async function loadImages(paths: string[], shape: [number, number, number]): Promise<tf.Tensor4D> {
  const { images, failed } = await loadImagesEach(paths, shape);
  if (failed.length > 0) {
    images?.dispose();
    throw new DataError(failed[0].file, failed[0].error);
  }
  // No failure and no image: an empty list gives an empty batch.
  return images ?? toImageTensor({ data: new Uint8Array(0), shape: [0, shape[0], shape[1], shape[2]] }, shape);
}

/**
 * An image folder: one sub-folder per class, images decoded on demand, each stretched to `imageShape` as a whole (no
 * crop, the aspect ratio not kept, as Keras's `image_dataset_from_directory` does by default; {@link decodeImage}).
 * Without a shape, images come as 64x64 RGB ({@link FOLDER_DEFAULT_SHAPE}).
 */
export class ImageFolderSource implements ExampleSource {
  private constructor(
    readonly name: string,
    readonly classes: string[],
    readonly imageShape: [number, number, number],
    readonly labels: Int32Array,
    /** Image files, by position. */
    readonly files: string[],
    /** The part of a multi-part source that it is, if any (see `Dataset.part`). */
    readonly part?: DataPart,
    /** What the folder holds and what was left out of it, in one line ({@link describeImageFolder}). */
    readonly description?: string,
  ) {}

  /** The image file at `position`. */
  exampleName(position: number): string {
    return this.files[position];
  }

  /**
   * Lists a folder's classes (sorted sub-folder names) and their images (sorted, by extension) and checks that each
   * image file starts like one. Hidden entries and files of other extensions are left out. `part` is the part of a
   * multi-part source (the `train/` or `test/` folder beside the other) that `dir` is, if it was picked as one.
   * `imageShape` is the `[h, w, c]` each image is stretched to; default 64x64x3 ({@link FOLDER_DEFAULT_SHAPE}).
   */
  static async open(
    dir: string,
    imageShape: [number, number, number] = FOLDER_DEFAULT_SHAPE,
    part?: DataPart,
  ): Promise<ImageFolderSource> {
    const top = await listFolder(dir);
    const classes = top.folders;
    if (top.images.length > 0) throw new DataError(dir, imagesBesideClasses(dir, top.images.length, classes));
    if (classes.length < 2) {
      throw new DataError(
        dir,
        `found ${classes.length} class folder${classes.length === 1 ? '' : 's'}${classes.length ? ` (${classes.join(', ')})` : ''}; need at least 2 (one sub-folder per class)`,
      );
    }
    const files: string[] = [];
    const labels: number[] = [];
    const counts: number[] = [];
    const otherFiles: string[] = [];
    const nested: string[] = [];
    for (const [label, cls] of classes.entries()) {
      const classDir = join(dir, cls);
      const listing = await listFolder(classDir);
      if (listing.images.length === 0) {
        const other = listing.otherFiles.length === 0 ? '' : ` (it holds ${fileKinds(listing.otherFiles)} files)`;
        throw new DataError(classDir, `empty class folder: no JPEG, PNG or WebP images in it${other}`);
      }
      for (const f of listing.images) {
        files.push(f);
        labels.push(label);
      }
      counts.push(listing.images.length);
      otherFiles.push(...listing.otherFiles);
      nested.push(...listing.folders.map((f) => `${cls}/${f}/`));
    }
    // Check every file's first bytes up front (a few at a time), so that stray files fail now, not mid-training, and
    // all at once: the first named with its problem, the others after it.
    const bad: DataError[] = [];
    for (let i = 0; i < files.length; i += 64) {
      for (const r of await Promise.allSettled(files.slice(i, i + 64).map(checkImageFile))) {
        if (r.status === 'rejected') bad.push(r.reason instanceof DataError ? r.reason : new DataError(dir, messageOf(r.reason)));
      }
    }
    if (bad.length > 0) {
      const others = bad.slice(1).map((e) => relative(dir, e.path));
      const more = others.length === 0 ? '' : `; and ${counted(others.length, 'more file')} in ${dir} that ${others.length === 1 ? 'is' : 'are'} not a JPEG, PNG or WebP image either: ${listNames(others)}`;
      throw new DataError(bad[0].path, `${problemOf(bad[0].path, bad[0])}${more}`);
    }
    const description = describeImageFolder(dir, classes, counts, otherFiles, nested);
    return new ImageFolderSource(dir, classes, imageShape, Int32Array.from(labels), files, part, description);
  }

  async read(positions: ArrayLike<number>): Promise<RawImages> {
    // The files were checked at opening; a file that fails to decode now fails the batch, in its own words.
    const settled = await decodeEach(Array.from(positions, (p) => this.files[p]), this.imageShape, false);
    const failure = settled.find((r) => r.status === 'rejected');
    if (failure !== undefined) throw failure.reason;
    return stackImages(settled.map((r) => (r as PromiseFulfilledResult<Uint8Array>).value), this.imageShape);
  }
}

/** The sorted names of a folder's sub-folders, hidden ones and OS leftovers (`__MACOSX`) left out. */
export async function subfolders(dir: string): Promise<string[]> {
  return (await listFolder(dir)).folders;
}

/** `1 image file`, `3 folders`: a count with its noun, plural when it is not 1. */
function counted(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** The kinds of some files, for a message: their extensions, lower-cased and each once (`.gif, .tif`), or a name that has none. */
function fileKinds(names: readonly string[]): string {
  return listNames([...new Set(names.map((n) => extname(n).toLowerCase() || n))].sort());
}

/**
 * Why a folder with image files directly in it is not an image folder: the common mistake is to give one class's
 * folder (`--data photos/red_circles`) instead of the folder of class folders.
 */
function imagesBesideClasses(dir: string, images: number, folders: readonly string[]): string {
  const expected = 'expected one sub-folder per class, with the images inside them';
  if (folders.length >= 2) {
    return `holds ${counted(images, 'image file')} directly, beside its class sub-folders (${listNames(folders)}): ${expected}; move the images into their class folders`;
  }
  const beside = folders.length === 0 ? 'and no class sub-folders' : `beside only 1 sub-folder (${folders[0]})`;
  return `holds ${counted(images, 'image file')} directly ${beside}: ${expected}; if it is one class's folder, give the folder above it (${dirname(dir)}) that holds all the class folders`;
}

/**
 * One line on an opened image folder: its classes with their image counts, and what was left out, when anything was:
 * `photos: 3 classes, 82 images (blue 28, green 27, red 27); skipped 12 files that are not JPEG, PNG or WebP (.gif,
 * .tif) and 1 folder inside a class folder (red/old/)`. With more than 8 classes, the first 6 and the range of the
 * counts. Hidden files and OS leftovers are not counted.
 */
export function describeImageFolder(
  dir: string,
  classes: readonly string[],
  counts: readonly number[],
  otherFiles: readonly string[],
  nestedFolders: readonly string[],
): string {
  const total = counts.reduce((a, b) => a + b, 0);
  const each = classes.map((c, i) => `${c} ${counts[i]}`);
  const perClass = each.length <= 8
    ? each.join(', ')
    : `${each.slice(0, 6).join(', ')} and ${each.length - 6} more; ${Math.min(...counts)} to ${Math.max(...counts)} a class`;
  const skipped: string[] = [];
  if (otherFiles.length > 0) skipped.push(`${counted(otherFiles.length, 'file')} that ${otherFiles.length === 1 ? 'is' : 'are'} not JPEG, PNG or WebP (${fileKinds(otherFiles)})`);
  if (nestedFolders.length > 0) {
    skipped.push(`${counted(nestedFolders.length, 'folder')} inside ${nestedFolders.length === 1 ? 'a class folder' : 'class folders'} (${listNames(nestedFolders)}): only the images directly in a class folder count`);
  }
  return `${dir}: ${classes.length} class${classes.length === 1 ? '' : 'es'}, ${counted(total, 'image')} (${perClass})${skipped.length > 0 ? `; skipped ${skipped.join(' and ')}` : ''}`;
}
