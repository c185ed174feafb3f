/**
 * The training log of a run: `<run>/log.csv` and `<run>/log.json`, one row per completed epoch, and `<run>/steps.csv`,
 * one row per training step (the loss and accuracy of each batch).
 *
 * Both files are rewritten whole (atomically) from the checkpoint's history after each epoch, so a resumed run
 * continues the log where its checkpoint left it: no epoch is missing or listed twice, even after a crash between
 * writing a checkpoint and writing the log.
 */
import { join } from 'node:path';
import type { EpochRecord } from './checkpoint.js';
import { writeFileAtomic } from './fsutil.js';

/** Columns of `log.csv`, in order. */
export const LOG_COLUMNS = ['epoch', 'loss', 'acc', 'val_loss', 'val_acc', 'time', 'images_per_s', 'lr'] as const;

/** The CSV text of a history: a header line, then one line per epoch; absent values are empty cells. */
export function historyCsv(history: EpochRecord[]): string {
  const lines = [LOG_COLUMNS.join(',')];
  for (const r of history) lines.push(LOG_COLUMNS.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(','));
  return `${lines.join('\n')}\n`;
}

/** Columns of `steps.csv`, in order. `step` counts from 1 within its epoch. */
export const STEP_COLUMNS = ['epoch', 'step', 'loss', 'acc'] as const;

/**
 * The CSV text of a history's per-step values: a header line, then one line per training step of the epochs that
 * recorded them (`step_loss`); an absent accuracy is an empty cell.
 */
export function stepsCsv(history: EpochRecord[]): string {
  const lines: string[] = [STEP_COLUMNS.join(',')];
  for (const r of history) {
    (r.step_loss ?? []).forEach((loss, i) => lines.push(`${r.epoch},${i + 1},${loss},${r.step_acc?.[i] ?? ''}`));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * `value` as JSON indented by two spaces, except that arrays of numbers (and nulls) stay on one line: a run's
 * per-step losses and accuracies then take one line per epoch in `state.json` and `log.json` instead of one line per
 * step. Parses back to the same value as `JSON.stringify(value)` does. (json-stringify-pretty-compact, here through
 * vega-lite, puts whatever fits a line limit on one line and breaks longer arrays into one line per element: exactly
 * the per-step arrays this is for.)
 */
export function formatJson(value: unknown): string {
  const format = (v: unknown, indent: string): string | undefined => {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON === 'function') {
      return format((v as { toJSON: () => unknown }).toJSON(), indent);
    }
    if (Array.isArray(v)) {
      if (v.length === 0) return '[]';
      if (v.every((e) => e === null || typeof e === 'number')) return `[${v.map((e) => JSON.stringify(e)).join(', ')}]`;
      const inner = `${indent}  `;
      // As JSON.stringify: an element that has no JSON form (undefined, a function) becomes null.
      return `[\n${v.map((e) => `${inner}${format(e, inner) ?? 'null'}`).join(',\n')}\n${indent}]`;
    }
    if (v !== null && typeof v === 'object') {
      const inner = `${indent}  `;
      const entries = Object.entries(v as Record<string, unknown>).flatMap(([k, e]) => {
        const text = format(e, inner);
        return text === undefined ? [] : [`${inner}${JSON.stringify(k)}: ${text}`];
      });
      return entries.length === 0 ? '{}' : `{\n${entries.join(',\n')}\n${indent}}`;
    }
    return JSON.stringify(v);
  };
  return format(value, '') ?? 'null';
}

/** The files {@link writeLogs} writes at the top of a run folder, in the order it writes them. */
export const LOG_FILES = ['log.csv', 'steps.csv', 'log.json'] as const;

/** Writes `log.csv`, `log.json` and `steps.csv` of a run folder from its history. */
export async function writeLogs(runDir: string, history: EpochRecord[]): Promise<void> {
  const [csv, steps, json] = LOG_FILES;
  await writeFileAtomic(join(runDir, csv), historyCsv(history));
  await writeFileAtomic(join(runDir, steps), stepsCsv(history));
  await writeFileAtomic(join(runDir, json), `${formatJson(history)}\n`);
}
