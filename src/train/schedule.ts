/**
 * Learning-rate schedules: the learning rate of each training step as a pure function of the step number, so that a
 * resumed run (which knows how many steps it has done) continues the same curve.
 */
import type * as tf from '@tensorflow/tfjs';
import { checkPositiveWhole } from './validate.js';

/**
 * A learning-rate schedule.
 *
 * - `constant`: the base learning rate at every step.
 * - `cosine`: cosine decay from the base rate at step 0 to 0 at the run's planned last step,
 *   `lr_t = lr * 0.5 * (1 + cos(pi * t / T))` (Loshchilov & Hutter, "SGDR", 2017, without restarts).
 */
export type LrSchedule = 'constant' | 'cosine';

/** All schedule names, for option parsing. */
export const LR_SCHEDULES: readonly LrSchedule[] = ['constant', 'cosine'];

/**
 * The learning rate of step `step` (0-based, counting every step of the run so far) of a run planned to take
 * `totalSteps` steps, with base learning rate `lr`.
 *
 * Throws on an unknown schedule, a learning rate that is not a positive finite number, a `totalSteps` that is not a
 * positive whole number, or a `step` that is not a whole number in `[0, totalSteps]`.
 */
export function learningRateAt(schedule: LrSchedule, lr: number, step: number, totalSteps: number): number {
  if (!LR_SCHEDULES.includes(schedule)) throw new Error(`unknown learning-rate schedule '${String(schedule)}' (known: ${LR_SCHEDULES.join(', ')})`);
  if (!(lr > 0 && Number.isFinite(lr))) throw new Error(`learning rate must be a positive number, got ${lr}`);
  checkPositiveWhole(totalSteps, 'total steps');
  if (!(Number.isInteger(step) && step >= 0 && step <= totalSteps)) throw new Error(`step must be a whole number in [0, ${totalSteps}], got ${step}`);
  if (schedule === 'constant') return lr;
  return lr * 0.5 * (1 + Math.cos((Math.PI * step) / totalSteps));
}

/**
 * Sets the learning rate that `optimizer`'s next `applyGradients` uses. tfjs's Adam and RMSProp read their
 * `learningRate` field on every step (as does the onednn backend's Adam, `src/backend/adam.ts`); SGD, and Momentum
 * (which extends it and steps with the same scalar), keep a cached `-lr` scalar, which their `setLearningRate` replaces.
 */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (lr: number) => void };
  if (o.learningRate === lr) return;
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else o.learningRate = lr;
}
