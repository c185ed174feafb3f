/**
 * The end-of-training report: loss and accuracy curves and a confusion-matrix heatmap, drawn with Vega-Lite and
 * rendered headless by Vega to SVG (no canvas needed), converted to PNG with sharp; plus `metrics.json` and a
 * `report.md` that shows the pictures and lists the final metrics and per-class precision and recall.
 */
import { join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import sharp from 'sharp';
import type { EpochRecord } from './checkpoint.js';
import { checkReplaceable, writeDirAtomic, writeFileSynced } from './fsutil.js';
import { type ClassMetrics, classMetrics, formatConfusion } from './metrics.js';
import { type Mistake, mistakeRecord, mistakesSvg } from './mistakes.js';

/** The evaluation shown in a report: its confusion matrix and summary metrics on one labelled set. */
export interface ReportEvaluation {
  /** What was evaluated, e.g. `validation` or `test`. */
  split: string;
  loss: number;
  accuracy: number;
  /** Number of images evaluated. */
  count: number;
  /** `confusion[t][p]`: images of true class `t` predicted as `p`. */
  confusion: number[][];
  /** The epoch whose weights were evaluated, when they are a training run's. */
  epoch?: number;
  /** The checkpoint folder those weights come from. */
  checkpoint?: string;
  /** The most confident mistakes, with their images (drawn as `mistakes.svg/.png`). */
  mistakes?: Mistake[];
}

/** How a training run went, for the report's training section. */
export interface ReportRun {
  /** The run folder: the `--model` of the commands the report suggests. */
  folder: string;
  /** The epochs the run was to train (`--epochs`). */
  plannedEpochs: number;
  /** Set when early stopping ended the run before `plannedEpochs`: its patience, in epochs. */
  stoppedEarly?: { patience: number };
  /** The best epoch by the monitored loss (validation, else training) and its checkpoint, which `--checkpoint best` loads. */
  best?: { epoch: number; monitor: 'val_loss' | 'loss'; checkpoint: string };
  /** Set in a report written after an epoch, before the run ended (the report of an interrupted run): no evaluation. */
  inProgress?: boolean;
}

/** What goes into a report. */
export interface ReportInput {
  /** Heading of `report.md`. */
  title: string;
  /** Class names, in output order. */
  classes: string[];
  /** Per-epoch training log. */
  history: EpochRecord[];
  /** How the run went (planned epochs, early stop, best epoch). Without it the report only says which epochs are logged. */
  run?: ReportRun;
  /** Final evaluation, if any (draws the confusion matrix and the per-class table). */
  evaluation?: ReportEvaluation;
  /** Extra facts listed at the top of `report.md` and stored in `metrics.json` (backend, architecture, …). */
  facts?: Record<string, string | number>;
}

/** Renders a Vega-Lite spec to an SVG string, headless. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Converts an SVG string to PNG bytes (at twice the SVG's pixel size, for crisp text). */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg), { density: 144 }).png().toBuffer();
}

/** Legend name of the per-step training loss in the curves chart. */
export const STEP_SERIES = 'train (per step)';

/** Legend name of the per-epoch mean training loss and accuracy in the curves chart. */
export const TRAIN_SERIES = 'train (epoch mean)';

/** Legend name of the validation loss and accuracy in the curves chart. */
export const VALIDATION_SERIES = 'validation';

/** Colours of the curves: Vega's default first two category colours for train and validation, a light blue per step. */
const SERIES_COLORS: Record<string, string> = { [TRAIN_SERIES]: '#4c78a8', [VALIDATION_SERIES]: '#f58518', [STEP_SERIES]: '#9ecae9' };

/** The caption under the curves in `report.md`: where each series is drawn, and why. */
export const CURVES_CAPTION =
  'Training loss and accuracy are means over each epoch, drawn at its middle (x = epoch - 0.5), since the weights ' +
  'changed during it; validation is measured after each epoch, at its end (x = epoch); the light line is the loss of ' +
  'each training step, at the point of the epoch where it was taken.';

/**
 * Vega-Lite spec of the loss and accuracy curves side by side, on one x axis of epochs that starts at the first
 * epoch's beginning in both panels. Epoch `e` spans x = `e - 1` to `e`: its mean training loss and accuracy, taken
 * while the weights changed, are drawn at its middle, x = `e - 0.5`; its validation, measured with the weights at its
 * end, at x = `e`. Where the history holds per-step training losses (`step_loss`), the loss panel also draws them as
 * a thin light line behind the others, step `s` (0-based) of `n` at x = `e - 1 + (s + 1) / n`, so an epoch's steps
 * run across its span and its mean sits among them.
 */
export function curvesSpec(history: EpochRecord[]): TopLevelSpec {
  const rows: { epoch: number; metric: string; split: string; value: number }[] = [];
  for (const h of history) {
    const steps = h.step_loss ?? [];
    steps.forEach((value, s) => rows.push({ epoch: h.epoch - 1 + (s + 1) / steps.length, metric: 'loss', split: STEP_SERIES, value }));
  }
  for (const h of history) {
    rows.push({ epoch: h.epoch - 0.5, metric: 'loss', split: TRAIN_SERIES, value: h.loss });
    rows.push({ epoch: h.epoch - 0.5, metric: 'accuracy', split: TRAIN_SERIES, value: h.acc });
    if (h.val_loss !== undefined) rows.push({ epoch: h.epoch, metric: 'loss', split: VALIDATION_SERIES, value: h.val_loss });
    if (h.val_acc !== undefined) rows.push({ epoch: h.epoch, metric: 'accuracy', split: VALIDATION_SERIES, value: h.val_acc });
  }
  const values = rows.filter((r) => Number.isFinite(r.value));
  const perStep = values.some((r) => r.split === STEP_SERIES);
  const domain = [TRAIN_SERIES, VALIDATION_SERIES, STEP_SERIES].filter((split) => values.some((r) => r.split === split));
  // Both panels share one x scale, from the beginning of the first logged epoch to the end of the last.
  const epochs = history.map((h) => h.epoch);
  const xDomain = epochs.length === 0 ? [0, 1] : [Math.min(...epochs) - 1, Math.max(...epochs)];
  const series = { filter: { field: 'split', equal: STEP_SERIES } };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Training curves',
    data: { values },
    facet: { column: { field: 'metric', type: 'nominal', title: null, sort: ['loss', 'accuracy'] } },
    spec: {
      width: 300,
      height: 220,
      encoding: {
        x: { field: 'epoch', type: 'quantitative', title: 'epoch', axis: { tickMinStep: 1, format: 'd' }, scale: { domain: xDomain, nice: false } },
        y: { field: 'value', type: 'quantitative', title: null },
        color: { field: 'split', type: 'nominal', title: null, scale: { domain, range: domain.map((d) => SERIES_COLORS[d]) } },
      },
      layer: perStep
        ? [
            { transform: [series], mark: { type: 'line', strokeWidth: 1 } },
            { transform: [{ filter: { not: series.filter } }], mark: { type: 'line', point: true } },
          ]
        : [{ mark: { type: 'line', point: true } }],
    },
    resolve: { scale: { x: 'shared', y: 'independent' } },
    config: { background: 'white' },
  };
}

/**
 * Vega-Lite spec of the confusion matrix heatmap: true class down, predicted class across, each cell coloured by the
 * fraction of its row (recall on the diagonal) and labelled with its count.
 */
export function confusionSpec(confusion: number[][], classes: string[], split: string): TopLevelSpec {
  const cells: { truth: string; predicted: string; count: number; fraction: number }[] = [];
  confusion.forEach((row, t) => {
    const total = row.reduce((a, b) => a + b, 0);
    row.forEach((count, p) => cells.push({ truth: classes[t], predicted: classes[p], count, fraction: total === 0 ? 0 : count / total }));
  });
  const size = Math.max(160, Math.min(600, 40 * classes.length));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Confusion matrix (${split})`,
    data: { values: cells },
    width: size,
    height: size,
    encoding: {
      x: { field: 'predicted', type: 'nominal', sort: classes, title: 'predicted class', axis: { labelAngle: -45 } },
      y: { field: 'truth', type: 'nominal', sort: classes, title: 'true class' },
    },
    layer: [
      {
        mark: 'rect',
        encoding: {
          color: { field: 'fraction', type: 'quantitative', title: 'row fraction', scale: { scheme: 'blues', domain: [0, 1] } },
        },
      },
      {
        mark: { type: 'text', fontSize: classes.length > 12 ? 8 : 12 },
        encoding: {
          text: { field: 'count', type: 'quantitative' },
          color: { condition: { test: 'datum.fraction > 0.5', value: 'white' }, value: 'black' },
        },
      },
    ],
    config: { background: 'white' },
  };
}

/**
 * Writes the report folder `dir` (replaced atomically): `curves.svg/.png`, `confusion.svg/.png` (when there is an
 * evaluation), `mistakes.svg/.png` (when it has mistakes), `metrics.json` and `report.md`. Returns the paths written.
 */
export async function writeReport(dir: string, input: ReportInput): Promise<string[]> {
  const written: string[] = [];
  const perClass = input.evaluation === undefined ? undefined : classMetrics(input.evaluation.confusion, input.classes);
  // An earlier report may have had charts this one lacks; an evaluation's report does not replace a training report.
  const kind = reportKind(input.history.length > 0);
  const owns = (name: string) => kind.files.includes(name);
  await writeDirAtomic(dir, async (tmp) => {
    const put = async (name: string, data: string | Uint8Array): Promise<void> => {
      await writeFileSynced(join(tmp, name), data);
      written.push(join(dir, name));
    };
    if (input.history.length > 0) {
      const svg = await renderSvg(curvesSpec(input.history));
      await put('curves.svg', svg);
      await put('curves.png', await svgToPng(svg));
    }
    if (input.evaluation !== undefined) {
      const svg = await renderSvg(confusionSpec(input.evaluation.confusion, input.classes, input.evaluation.split));
      await put('confusion.svg', svg);
      await put('confusion.png', await svgToPng(svg));
    }
    const mistakes = input.evaluation?.mistakes ?? [];
    if (input.evaluation !== undefined && mistakes.length > 0) {
      const svg = await mistakesSvg(mistakes, input.classes, mistakesTitle(input.evaluation));
      await put('mistakes.svg', svg);
      await put('mistakes.png', await svgToPng(svg));
    }
    const final = input.history[input.history.length - 1];
    const metrics = {
      title: input.title,
      facts: input.facts ?? {},
      classes: input.classes,
      run: input.run,
      final,
      history: input.history,
      evaluation: input.evaluation === undefined ? undefined : { ...input.evaluation, perClass, mistakes: mistakes.map(mistakeRecord) },
    };
    await put('metrics.json', JSON.stringify(metrics, null, 2));
    await put('report.md', reportMarkdown(input, perClass));
  }, { owns, kind: kind.name });
  return written;
}

/**
 * The report folders a report may replace: a training report (one with training curves) replaces any report; an
 * evaluation's report (no curves) only another such report, never a run's training report. `name` is what such a
 * folder is, in the message that refuses another.
 */
function reportKind(training: boolean): { files: string[]; name: string } {
  return training
    ? { files: REPORT_FILES, name: 'a report' }
    : { files: REPORT_FILES.filter((f) => !f.startsWith('curves.')), name: 'an evaluation report' };
}

/**
 * Checks, ahead of the work whose report goes there, that {@link writeReport} may write `dir` with a report of
 * training (`training`, with curves) or of an evaluation alone: `dir` is missing, or a folder holding only the files
 * of such a report (see {@link reportKind}). Throws {@link TargetInUseError} otherwise.
 */
export async function checkReportTarget(dir: string, training: boolean): Promise<void> {
  const kind = reportKind(training);
  await checkReplaceable(dir, (name) => kind.files.includes(name), kind.name);
}

/** Every file {@link writeReport} may write: an existing folder holding only these can be replaced by a new report. */
const REPORT_FILES = ['curves.svg', 'curves.png', 'confusion.svg', 'confusion.png', 'mistakes.svg', 'mistakes.png', 'metrics.json', 'report.md'];

/** The heading of the mistakes grid. */
function mistakesTitle(ev: ReportEvaluation): string {
  const shown = ev.mistakes?.length ?? 0;
  const wrong = ev.confusion.reduce((n, row, t) => n + row.reduce((m, c, p) => m + (p === t ? 0 : c), 0), 0);
  const which = shown === wrong ? (shown === 1 ? 'The mistake' : `The ${shown} mistakes`) : `The ${shown} most confident of ${wrong} mistakes`;
  return `${which} (${ev.split}, ${ev.count} image${ev.count === 1 ? '' : 's'})`;
}

function fmt(x: number | null | undefined, digits = 4): string {
  return x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(digits);
}

/** A monitored loss in words. */
function monitorName(monitor: 'val_loss' | 'loss'): string {
  return monitor === 'val_loss' ? 'validation loss' : 'training loss';
}

/** `n epoch(s)`. */
export function epochsText(n: number): string {
  return `${n} epoch${n === 1 ? '' : 's'}`;
}

/**
 * The paragraphs that say how a run went: how many of its planned epochs it trained and why it stopped, which epoch
 * was best and, where that is not the last one, how to use its checkpoint.
 */
function runParagraphs(run: ReportRun, history: EpochRecord[]): string[] {
  const final = history[history.length - 1];
  const paragraphs: string[] = [];
  const best = run.best;
  if (run.inProgress === true) {
    paragraphs.push(
      `Written after epoch ${final.epoch} of ${run.plannedEpochs} planned, before the run ended: the report written when it ends adds ` +
        `the evaluation. If it was interrupted, \`resnet train --out ${run.folder} --resume\` continues it.`,
    );
  } else if (run.stoppedEarly !== undefined && best !== undefined) {
    paragraphs.push(
      `Training stopped early at epoch ${final.epoch} of ${run.plannedEpochs} planned: the ${monitorName(best.monitor)} had not improved for ` +
        `${epochsText(final.epoch - best.epoch)} (\`--early-stop ${run.stoppedEarly.patience}\`).`,
    );
  } else if (final.epoch === run.plannedEpochs) {
    paragraphs.push(`Trained all ${epochsText(run.plannedEpochs)} planned.`);
  } else {
    paragraphs.push(`Trained ${epochsText(final.epoch)} (${run.plannedEpochs} planned).`);
  }
  if (best !== undefined) {
    const h = history.find((r) => r.epoch === best.epoch);
    const values = h === undefined ? '' : ` (loss ${fmt(h.loss)}, acc ${fmt(h.acc)}${h.val_loss !== undefined ? `, val_loss ${fmt(h.val_loss)}, val_acc ${fmt(h.val_acc)}` : ''})`;
    if (best.epoch === final.epoch) {
      paragraphs.push(`The best epoch by ${monitorName(best.monitor)} is the last one, ${best.epoch}${values}.`);
    } else {
      paragraphs.push(
        `The best epoch by ${monitorName(best.monitor)} is ${best.epoch}${values}; its checkpoint is \`${best.checkpoint}\`. ` +
          `To use its weights instead of the last epoch's, pass \`--checkpoint best\` with the run folder as \`--model\`: ` +
          `\`resnet evaluate --model ${run.folder} --checkpoint best --data <test data>\`, and likewise ` +
          `\`resnet predict\` and \`resnet convert\`.`,
      );
    }
  }
  return paragraphs;
}

/**
 * `text` as the content of a Markdown table cell: a `|` would end the cell, so it is escaped (`\|`), and so is a
 * backslash (which would otherwise escape the character after it); a line break, which would end the row, becomes a
 * space. GitHub and CommonMark table renderers show the text as it was.
 */
function tableCell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r\n|\r|\n/g, ' ');
}

/** The text of `report.md`. */
function reportMarkdown(input: ReportInput, perClass: ClassMetrics[] | undefined): string {
  const out: string[] = [`# ${input.title}`, ''];
  for (const [k, v] of Object.entries(input.facts ?? {})) out.push(`- ${k}: ${v}`);
  if (input.facts !== undefined) out.push('');
  const final = input.history[input.history.length - 1];
  const best = input.run?.best;
  if (final !== undefined) {
    out.push('## Training', '');
    if (input.run !== undefined) for (const p of runParagraphs(input.run, input.history)) out.push(p, '');
    else out.push(`Final epoch ${final.epoch} of ${input.history.length} logged.`, '');
    out.push('| epoch | loss | accuracy | val loss | val accuracy | images/s |', '| ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const h of input.history) {
      const epoch = h.epoch === best?.epoch ? `${h.epoch} (best)` : String(h.epoch);
      out.push(`| ${epoch} | ${fmt(h.loss)} | ${fmt(h.acc)} | ${fmt(h.val_loss)} | ${fmt(h.val_acc)} | ${h.images_per_s.toFixed(1)} |`);
    }
    out.push('', '![Loss and accuracy curves](curves.png)', '', CURVES_CAPTION, '');
  }
  const ev = input.evaluation;
  if (ev !== undefined && perClass !== undefined) {
    out.push(`## Evaluation (${ev.split}, ${ev.count} images)`, '');
    if (ev.epoch !== undefined) {
      const which = [ev.epoch === best?.epoch ? `the best by ${monitorName(best.monitor)}` : undefined, ev.epoch === final?.epoch ? 'the last' : undefined]
        .filter((w) => w !== undefined)
        .join(' and ');
      out.push(`Weights of epoch ${ev.epoch}${which !== '' ? ` (${which})` : ''}${ev.checkpoint !== undefined ? `: \`${ev.checkpoint}\`` : ''}.`, '');
      if (best !== undefined && ev.epoch === best.epoch && best.monitor === 'val_loss' && ev.epoch !== final?.epoch && ev.split === 'validation') {
        out.push(
          'That epoch was chosen by its loss on these same images, so these figures flatter it a little: evaluate it on a test set ' +
            `(\`resnet evaluate --model ${input.run?.folder ?? '<run>'} --checkpoint best --data <test data>\`) for an unbiased estimate.`,
          '',
        );
      }
    }
    out.push(`- loss: ${fmt(ev.loss)}`, `- accuracy: ${fmt(ev.accuracy)}`, '');
    out.push('| class | precision | recall | support |', '| --- | ---: | ---: | ---: |');
    for (const m of perClass) out.push(`| ${tableCell(m.name)} | ${fmt(m.precision, 3)} | ${fmt(m.recall, 3)} | ${m.support} |`);
    out.push('', '![Confusion matrix](confusion.png)', '', '```', formatConfusion(ev.confusion, input.classes), '```', '');
    if ((ev.mistakes?.length ?? 0) > 0) {
      out.push(
        `### ${mistakesTitle(ev)}`,
        '',
        '![Most confident mistakes](mistakes.png)',
        '',
        'The misclassified images the model was surest of, most confident first, as the model saw them: under each, its ' +
          'true class and the probability the model gave it, then the predicted class and its probability, then the ' +
          'image\'s file or its index in the evaluated data. Many sure mistakes between two look-alike classes point to the ' +
          'classes; a sure mistake that looks right to you may be a mislabelled image.',
        '',
      );
    }
  }
  return out.join('\n');
}
