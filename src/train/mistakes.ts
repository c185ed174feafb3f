/**
 * The most confident mistakes of an evaluation: the misclassified images to which the model gave its wrong answer the
 * highest probability, kept while the evaluation runs (only a few images, whatever the data set's size) and drawn as
 * a grid of the images with their true and predicted classes. Looking at them is the quickest way to tell a model
 * that confuses look-alike classes from mislabelled data or images it cannot see well at its input size.
 */
import { classLine, clipStart, GRID_LINE_CHARS, type GridCell, imageGridSvg, thumbnailOfPixels } from './image_grid.js';

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
   * Looks at one batch: `probs` (rows of `classes` probabilities), the true classes `truth` and the predicted ones
   * `predicted` (the evaluation's, from which its confusion matrix is counted), and `readImages`, which gives the
   * batch's images (`[batch, h, w, c]` values in 0..1, as the data sets deliver them) and is called only when one of
   * them is kept. `offset` is the batch's first index in the data set; `sourceOf` names an index's image.
   */
  async add(batch: {
    probs: Float32Array;
    classes: number;
    truth: ArrayLike<number>;
    predicted: ArrayLike<number>;
    offset: number;
    imageShape: [number, number, number];
    readImages: () => Promise<Float32Array>;
    sourceOf?: (index: number) => string | undefined;
  }): Promise<void> {
    const { probs, classes, truth, offset, imageShape, readImages, sourceOf } = batch;
    if (this.keep === 0) return;
    const rows = truth.length;
    const pixelsPerImage = imageShape[0] * imageShape[1] * imageShape[2];
    let images: Float32Array | undefined;
    for (let r = 0; r < rows; r++) {
      const predicted = batch.predicted[r];
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

/**
 * The grid of `mistakes` as an SVG document: each image with its true class and the probability given to it, its
 * predicted class and that one's probability, and its file (or its index in the data set).
 */
export async function mistakesSvg(mistakes: readonly Mistake[], classes: readonly string[], title: string): Promise<string> {
  const cells: GridCell[] = [];
  for (const m of mistakes) {
    cells.push({
      png: await thumbnailOfPixels(m.image.pixels, m.image.shape),
      lines: [
        { text: classLine('true: ', classes[m.truth] ?? String(m.truth), m.truthProbability), color: '#1a7f37' },
        { text: classLine('predicted: ', classes[m.predicted] ?? String(m.predicted), m.confidence), color: '#cf222e' },
        { text: clipStart(m.source !== undefined ? m.source.split(/[\\/]/).pop() ?? m.source : `#${m.index}`, GRID_LINE_CHARS), small: true },
      ],
    });
  }
  return imageGridSvg(title, cells);
}
