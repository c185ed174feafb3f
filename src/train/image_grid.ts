/**
 * A grid of images, each with a few lines of text under it, as one SVG document with the images embedded (so the
 * file stands alone) that sharp turns into a PNG. Reports draw an evaluation's most confident mistakes with it, and
 * `resnet predict --sheet` the images it classified.
 */
import sharp, { type Sharp } from 'sharp';

/** Pixel size of an image in the grid. */
export const GRID_IMAGE = 160;
const PAD = 12;
const LINE = 16;
const COLUMNS = 4;
/** Characters of 11-pixel sans-serif that fit under an image (about 6 pixels each). */
export const GRID_LINE_CHARS = Math.floor((GRID_IMAGE + 2 * PAD - 4) / 6.2);

/** One line of text under an image. */
export interface GridLine {
  /** The text; cut with an ellipsis where it is longer than {@link GRID_LINE_CHARS} (see {@link clip}). */
  text: string;
  /** CSS colour (default: near black). */
  color?: string;
  /** Smaller and lighter, for a detail such as a file name. */
  small?: boolean;
}

/** One image of the grid. */
export interface GridCell {
  /** The image as PNG bytes, {@link GRID_IMAGE} pixels square ({@link thumbnailOfPixels}, {@link thumbnailOfFile}). */
  png: Buffer;
  /** The lines of text under it, top to bottom. */
  lines: GridLine[];
}

/**
 * `text` safe inside SVG markup: markup characters as references, and the characters XML 1.0 does not allow at all
 * (control characters, lone surrogates: a file name may hold them) as U+FFFD, the replacement character.
 */
function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD')
    .replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** `text` cut to `max` characters (code points, so that no character is split), ending in an ellipsis where cut. */
export function clip(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}

/**
 * `text` cut to its last `max` characters, starting with an ellipsis where cut: for a file name or a source and row
 * (`…images-idx3-ubyte.gz #2022`), whose end tells one from another.
 */
export function clipStart(text: string, max: number): string {
  const chars = Array.from(text);
  return chars.length <= max ? text : `…${chars.slice(chars.length - Math.max(1, max - 1)).join('')}`;
}

/** A class and its probability as one grid line: a long class name is cut, the probability kept whole. */
export function classLine(label: string, name: string, probability: number): string {
  const tail = ` (${formatProbability(probability)})`;
  return `${label}${clip(name, Math.max(4, GRID_LINE_CHARS - Array.from(label).length - tail.length))}${tail}`;
}

/** A probability as a percentage: one decimal near 0 and 1, where a whole percent would say 0% or 100%. */
export function formatProbability(p: number): string {
  return `${(100 * p).toFixed(p < 0.1 || p >= 0.995 ? 1 : 0)}%`;
}

/** `3 images`, `1 image`, or `the first 64 of 70 images` where only `shown` of `total` are shown. */
export function imagesShown(shown: number, total: number): string {
  if (shown === total) return `${total} image${total === 1 ? '' : 's'}`;
  return `the first ${shown} of ${total} images`;
}

/** Resizes to the grid's image size, on white: small images enlarged without smoothing, so their pixels stay visible. */
function fitCell(image: Sharp, width: number, height: number): Promise<Buffer> {
  const enlarge = Math.max(height, width) <= GRID_IMAGE;
  return image
    .resize(GRID_IMAGE, GRID_IMAGE, { fit: 'contain', background: { r: 255, g: 255, b: 255 }, kernel: enlarge ? 'nearest' : 'lanczos3' })
    .png()
    .toBuffer();
}

/** A grid image of 8-bit pixels, `[height, width, channels]` row by row (1, 3 or 4 channels). */
export function thumbnailOfPixels(pixels: Uint8Array, shape: readonly [number, number, number]): Promise<Buffer> {
  const [height, width, channels] = shape;
  return fitCell(sharp(Buffer.from(pixels), { raw: { width, height, channels: channels as 1 | 3 | 4 } }), width, height);
}

/**
 * A grid image of an image file, turned upright by its EXIF orientation as the data loaders do: decoded, turned and
 * resized in one pipeline (a large photo is never held at full size).
 */
export async function thumbnailOfFile(file: string): Promise<Buffer> {
  const { width = GRID_IMAGE, height = GRID_IMAGE, orientation = 1 } = await sharp(file).metadata();
  // Orientations 5 to 8 turn the image a quarter: its upright width is its stored height.
  const [uprightWidth, uprightHeight] = orientation >= 5 ? [height, width] : [width, height];
  return fitCell(sharp(file).rotate(), uprightWidth, uprightHeight);
}

/** The grid of `cells`, four to a row, under `title`, as an SVG document. */
export function imageGridSvg(title: string, cells: readonly GridCell[]): string {
  const columns = Math.min(COLUMNS, Math.max(1, cells.length));
  const rows = Math.ceil(cells.length / columns);
  const lines = Math.max(0, ...cells.map((c) => c.lines.length));
  const cellWidth = GRID_IMAGE + 2 * PAD;
  const cellHeight = GRID_IMAGE + PAD + lines * LINE + PAD;
  const top = 32;
  const width = Math.max(columns * cellWidth, 360);
  const height = top + rows * cellHeight;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${PAD}" y="21" font-size="14" font-weight="bold">${escapeXml(clip(title, Math.floor(width / 8)))}</text>`,
  ];
  cells.forEach((cell, k) => {
    const x = (k % columns) * cellWidth + PAD;
    const y = top + Math.floor(k / columns) * cellHeight;
    parts.push(
      `<image x="${x}" y="${y}" width="${GRID_IMAGE}" height="${GRID_IMAGE}" xlink:href="data:image/png;base64,${cell.png.toString('base64')}"/>`,
      `<rect x="${x}" y="${y}" width="${GRID_IMAGE}" height="${GRID_IMAGE}" fill="none" stroke="#bbb"/>`,
    );
    cell.lines.forEach((line, i) => {
      const style = line.small === true ? `font-size="10" fill="${line.color ?? '#666'}"` : `font-size="11" fill="${line.color ?? '#222'}"`;
      parts.push(`<text x="${x}" y="${y + GRID_IMAGE + (i + 1) * LINE}" ${style}>${escapeXml(clip(line.text, GRID_LINE_CHARS))}</text>`);
    });
  });
  parts.push('</svg>');
  return parts.join('\n');
}
