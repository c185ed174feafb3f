/**
 * A faster `tf.AdamOptimizer.applyGradients` on the onednn backend.
 *
 * tfjs's Adam updates each variable with thirteen tensor ops (mul, add, square, div, sqrt...), each a full pass
 * over the variable with a fresh output: on ResNet-50's 23.5 million weights that is most of a training step's
 * element-wise work. On the onednn backend this override runs one OnednnAdam kernel per variable instead, a single
 * pass computing the new value and both moments with the same float32 operations in the same order, so the results
 * are bit-identical to tfjs's.
 *
 * Like the gradient overrides (gradients.ts), it is installed for every AdamOptimizer (including those that
 * tf.layers creates for `optimizer: 'adam'`), and it calls tfjs's own applyGradients whenever the active backend is
 * not onednn. The optimizer's state (slots, their names, accBeta1/2, iterations) is kept exactly as tfjs keeps it,
 * so getWeights/setWeights and checkpoints are unchanged.
 */
import * as tf from '@tensorflow/tfjs';
import type { NamedTensorMap, Tensor, Variable } from '@tensorflow/tfjs';

import { adamApplies, ONEDNN_ADAM } from './kernels/OnednnAdam.js';

/** The AdamOptimizer internals applyGradients works with (tfjs 4.x field names). */
interface AdamInternals {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  accBeta1: Variable;
  accBeta2: Variable;
  accumulatedFirstMoment: { originalName: string; variable: Variable }[];
  accumulatedSecondMoment: { originalName: string; variable: Variable }[];
  incrementIterations(): void;
}

type ApplyGradients = tf.AdamOptimizer['applyGradients'];

/** What applyGradients takes: gradients by variable name, or a list of named gradients. */
type VariableGradients = Parameters<ApplyGradients>[0];

/** Marks our applyGradients, so installing twice never wraps it, and keeps tfjs's. */
const ORIGINAL = Symbol('tfjs AdamOptimizer.applyGradients');

type MarkedApplyGradients = ApplyGradients & { [ORIGINAL]?: ApplyGradients };

/** The scalar's float32 value (a tfjs scalar op's operand). */
const f32 = Math.fround;

/** tfjs's per-variable Adam update with tensor ops, for variables the kernel does not take (not float32). */
function adamWithOps(
  self: AdamInternals,
  value: Variable,
  gradient: Tensor,
  firstMoment: Variable,
  secondMoment: Variable,
  oneMinusAccBeta1: Tensor,
  oneMinusAccBeta2: Tensor,
): void {
  const newFirstMoment = tf.add(tf.mul(firstMoment, self.beta1), tf.mul(gradient, 1 - self.beta1));
  const newSecondMoment = tf.add(tf.mul(secondMoment, self.beta2), tf.mul(tf.square(gradient), 1 - self.beta2));
  const biasCorrectedFirstMoment = tf.div(newFirstMoment, oneMinusAccBeta1);
  const biasCorrectedSecondMoment = tf.div(newSecondMoment, oneMinusAccBeta2);
  firstMoment.assign(newFirstMoment);
  secondMoment.assign(newSecondMoment);
  const step = tf.div(biasCorrectedFirstMoment, tf.add(tf.sqrt(biasCorrectedSecondMoment), self.epsilon));
  value.assign(tf.add(tf.mul(step, -self.learningRate), value));
}

/** applyGradients of AdamOptimizer, with one OnednnAdam kernel per variable on the onednn backend. */
function applyGradientsNative(
  this: tf.AdamOptimizer,
  variableGradients: VariableGradients,
): void {
  const original = (applyGradientsNative as MarkedApplyGradients)[ORIGINAL] as ApplyGradients;
  if (tf.getKernel(ONEDNN_ADAM, tf.getBackend()) === undefined) {
    original.call(this, variableGradients);
    return;
  }
  const self = this as unknown as AdamInternals;
  const varNames = Array.isArray(variableGradients)
    ? variableGradients.map((v) => v.name)
    : Object.keys(variableGradients);
  tf.tidy(() => {
    const oneMinusAccBeta1 = tf.sub(1, self.accBeta1);
    const oneMinusAccBeta2 = tf.sub(1, self.accBeta2);
    const scalars = [
      f32(self.beta1),
      f32(1 - self.beta1),
      f32(self.beta2),
      f32(1 - self.beta2),
      oneMinusAccBeta1.dataSync()[0],
      oneMinusAccBeta2.dataSync()[0],
      f32(self.epsilon),
      f32(-self.learningRate),
    ];
    varNames.forEach((name, i) => {
      const value = tf.engine().registeredVariables[name];
      const trainable = false;
      if (self.accumulatedFirstMoment[i] == null) {
        self.accumulatedFirstMoment[i] = {
          originalName: `${name}/m`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(trainable)),
        };
      }
      if (self.accumulatedSecondMoment[i] == null) {
        self.accumulatedSecondMoment[i] = {
          originalName: `${name}/v`,
          variable: tf.tidy(() => tf.zerosLike(value).variable(trainable)),
        };
      }
      const gradient = Array.isArray(variableGradients)
        ? variableGradients[i].tensor
        : (variableGradients as NamedTensorMap)[name];
      if (gradient == null) return;
      const m = self.accumulatedFirstMoment[i].variable;
      const v = self.accumulatedSecondMoment[i].variable;
      const inputs = { value, m, v, gradient };
      if (!adamApplies(inputs)) {
        adamWithOps(self, value, gradient, m, v, oneMinusAccBeta1, oneMinusAccBeta2);
        return;
      }
      const [newValue, newM, newV] = tf.engine().runKernel(ONEDNN_ADAM, inputs, { scalars }) as Tensor[];
      m.assign(newM);
      v.assign(newV);
      value.assign(newValue);
    });
    self.accBeta1.assign(tf.mul(self.accBeta1, self.beta1));
    self.accBeta2.assign(tf.mul(self.accBeta2, self.beta2));
  });
  self.incrementIterations();
}

/**
 * Installs the override on `tf.AdamOptimizer.prototype` (idempotent). Called when the onednn backend is
 * registered; on other backends every AdamOptimizer keeps running tfjs's own code.
 */
export function registerNativeAdam(): void {
  const proto = tf.AdamOptimizer.prototype as unknown as { applyGradients: MarkedApplyGradients };
  if (proto.applyGradients === (applyGradientsNative as unknown as MarkedApplyGradients)) return;
  (applyGradientsNative as unknown as MarkedApplyGradients)[ORIGINAL] = proto.applyGradients;
  proto.applyGradients = applyGradientsNative as unknown as MarkedApplyGradients;
}
