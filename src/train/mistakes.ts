/**
 * The most confident mistakes of an evaluation: the misclassified images to which the model gave its wrong answer the
 * highest probability, kept while the evaluation runs (only a few images, whatever the data set's size) and drawn as
 * a grid of the images with their true and predicted classes. Looking at them is the quickest way to tell a model
 * that confuses look-alike classes from mislabelled data or images it cannot see well at its input size.
 */
import sharp from 'sharp';

/** How many mistakes an evaluation keeps by default: a 4 x 4 grid. */
export const MISTAKES_SHOWN = 16;

/** One misclassified image. */
export interface Mistake {
  /** Position of the image in the evaluated data set's order (batches without shuffling). */
  index: number;
  /** Where the image comes from, where the data set names its images (an image file's path). */
  source?: string;
  /** The true class (an index into the evaluation's classes). */
  truth: number;
  /** The predicted class: the highest-scoring one. */
  predicted: number;
  /** The probability the model gave its prediction. */
  confidence: number;
  /** The probability the model gave the true class. */
  truthProbability: number;
  /** The image as the model saw it, 8 bits a channel, row by row: `shape` is `[height, width, channels]`. */
  image: { pixels: Uint8Array; shape: [number, number, number] };
}

/** A mistake without its pixels, as `metrics.json` and `--json` output list it. */
export type MistakeRecord = Omit<Mistake, 'image'>;

/** The mistake without its pixels. */
export function mistakeRecord({ image: _image, ...rest }: Mistake): MistakeRecord {
  return rest;
}

/** Keeps the `keep` most confident mistakes seen so far, most confident first. */
export class MistakeCollector {
  private readonly kept: Mistake[] = [];

  /** @param keep how many to keep (0 keeps none). */
  constructor(readonly keep: number) {}

  /**
   * Looks at one batch: `probs` (rows of `classes` probabilities), the true classes `truth`, and `readImages`, which
   * gives the batch's images (`[batch, h, w, c]` values in 0..1, as the data sets deliver them) and is called only
   * when one of them is kept. `offset` is the batch's first index in the data set; `sourceOf` names an index's image.
   */
  async add(
    probs: Float32Array,
    classes: number,
    truth: ArrayLike<number>,
    offset: number,
    imageShape: [number, number, number],
    readImages: () => Promise<Float32Array>,
    sourceOf?: (index: number) => string | undefined,
  ): Promise<void> {
    if (this.keep === 0) return;
    const rows = truth.length;
    const pixelsPerImage = imageShape[0] * imageShape[1] * imageShape[2];
    let images: Float32Array | undefined;
    for (let r = 0; r < rows; r++) {
      let predicted = 0;
      for (let c = 1; c < classes; c++) if (probs[r * classes + c] > probs[r * classes + predicted]) predicted = c;
      const t = truth[r];
      if (predicted === t) continue;
      const confidence = probs[r * classes + predicted];
      if (this.kept.length === this.keep && !(confidence > this.kept[this.kept.length - 1].confidence)) continue;
      images ??= await readImages();
      const pixels = new Uint8Array(pixelsPerImage);
      for (let i = 0; i < pixelsPerImage; i++) {
        pixels[i] = Math.round(Math.min(1, Math.max(0, images[r * pixelsPerImage + i])) * 255);
      }
      const index = offset + r;
      const source = sourceOf?.(index);
      const mistake: Mistake = {
        index,
        ...(source !== undefined ? { source } : {}),
        truth: t,
        predicted,
        confidence,
        truthProbability: probs[r * classes + t],
        image: { pixels, shape: [...imageShape] },
      };
      // Sorted by confidence, highest first; an equal one goes after those kept before it (data set order).
      let at = this.kept.length;
      while (at > 0 && this.kept[at - 1].confidence < confidence) at--;
      this.kept.splice(at, 0, mistake);
      if (this.kept.length > this.keep) this.kept.pop();
    }
  }

  /** The mistakes kept, most confident first. */
  get mistakes(): Mistake[] {
    return [...this.kept];
  }
}

/** Pixel size of an image in the grid. */
const CELL = 160;
/** Columns of the grid. */
const COLUMNS = 4;
const PAD = 12;
const LINE = 16;
const TEXT_LINES = 3;

/** `text` safe inside SVG markup. */
function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

/** `text` cut to `max` characters, with an ellipsis where it was cut. */
function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** A probability as a percentage: one decimal near 0 and 1, where a whole percent would say 0% or 100%. */
export function formatProbability(p: number): string {
  return `${(100 * p).toFixed(p < 0.1 || p >= 0.995 ? 1 : 0)}%`;
}

/** The image as a PNG of CELL x CELL pixels: small images enlarged without smoothing, so their pixels stay visible. */
async function thumbnail(image: Mistake['image']): Promise<Buffer> {
  const [height, width, channels] = image.shape;
  const enlarge = Math.max(height, width) <= CELL;
  return sharp(Buffer.from(image.pixels), { raw: { width, height, channels: channels as 1 | 3 | 4 } })
    .resize(CELL, CELL, { fit: 'contain', background: { r: 255, g: 255, b: 255 }, kernel: enlarge ? 'nearest' : 'lanczos3' })
    .png()
    .toBuffer();
}

/**
 * The grid of `mistakes` as an SVG document: each image with its true class, its predicted class and the
 * probability given to it, and its index in the data set (or its file name). The images are embedded, so the file
 * stands alone.
 */
export async function mistakesSvg(mistakes: readonly Mistake[], classes: readonly string[], title: string): Promise<string> {
  const columns = Math.min(COLUMNS, Math.max(1, mistakes.length));
  const rows = Math.ceil(mistakes.length / columns);
  const cellWidth = CELL + 2 * PAD;
  const cellHeight = CELL + PAD + TEXT_LINES * LINE + PAD;
  const top = 32;
  const width = Math.max(columns * cellWidth, 360);
  const height = top + rows * cellHeight;
  const chars = Math.floor((cellWidth - 4) / 6.2); // of 11-pixel sans-serif, about 6 pixels wide
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${PAD}" y="21" font-size="14" font-weight="bold">${escapeXml(clip(title, Math.floor(width / 8)))}</text>`,
  ];
  for (let k = 0; k < mistakes.length; k++) {
    const m = mistakes[k];
    const x = (k % columns) * cellWidth + PAD;
    const y = top + Math.floor(k / columns) * cellHeight;
    const png = (await thumbnail(m.image)).toString('base64');
    const where = m.source !== undefined ? m.source.split(/[\\/]/).pop() ?? m.source : `#${m.index}`;
    // A line keeps its probability whole; a long class name is cut instead.
    const line = (label: string, name: string, p: number): string => {
      const tail = ` (${formatProbability(p)})`;
      return `${label}${clip(name, Math.max(4, chars - label.length - tail.length))}${tail}`;
    };
    parts.push(
      `<image x="${x}" y="${y}" width="${CELL}" height="${CELL}" xlink:href="data:image/png;base64,${png}"/>`,
      `<rect x="${x}" y="${y}" width="${CELL}" height="${CELL}" fill="none" stroke="#bbb"/>`,
      `<text x="${x}" y="${y + CELL + LINE}" font-size="11" fill="#1a7f37">${escapeXml(line('true: ', classes[m.truth] ?? String(m.truth), m.truthProbability))}</text>`,
      `<text x="${x}" y="${y + CELL + 2 * LINE}" font-size="11" fill="#cf222e">${escapeXml(line('predicted: ', classes[m.predicted] ?? String(m.predicted), m.confidence))}</text>`,
      `<text x="${x}" y="${y + CELL + 3 * LINE}" font-size="10" fill="#666">${escapeXml(clip(where, chars))}</text>`,
    );
  }
  parts.push('</svg>');
  return parts.join('\n');
}
