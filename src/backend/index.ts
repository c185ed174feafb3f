/**
 * Backend selection: the native `onednn` backend when its addon is built, else tfjs's pure-JS `cpu` backend.
 * Everything in this project sets the backend through `initBackend`. Also the backend's native ops over raw
 * Float32Arrays (`activeNativeOps`, native_ops.ts), for executors that call them without tfjs's engine.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import * as tf from '@tensorflow/tfjs';

import { BackendOnednn, ONEDNN_BACKEND_NAME } from './backend_onednn.js';
import { loadNative, nativeLoadError } from './native.js';
import type { NativeInfo } from './native.js';
import { registerAllKernels } from './register_all_kernels.js';

export { BackendOnednn, ONEDNN_BACKEND_NAME, type OnednnMemoryInfo } from './backend_onednn.js';
export type { NativeInfo } from './native.js';
export {
  activeNativeOps,
  conv2dResidualOnBackend,
  debugEnabled,
  isFusedActivation,
  NativeOps,
  type BatchNormTrainingOp,
  type BinaryOp,
  type Conv2dOp,
  type Conv2dParams,
  type Conv2dResidualGeometry,
  type Conv2dTrainingOp,
  type Conv2dTrainingParams,
  type FusedActivation,
  type MatMulParams,
  type MatMulTrainingOp,
  type NativeBinaryOp,
  type NativeOp,
  type NativePadding,
  type NativeUnaryOp,
  type Pool2dOp,
  type Pool2dParams,
  type SpatialSize,
  type UnaryOp,
} from './native_ops.js';
export { moveTowards } from './batchnorm_layer.js';
export { heldArray, PlanArena } from './held_memory.js';

/** Which backend to use: 'auto' picks the fastest one available. */
export type BackendChoice = 'auto' | 'onednn' | 'cpu';

/** This package's root folder (where `npm run build:native` builds the addon): three levels above dist/src/backend. */
const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/**
 * How to get the native backend, for messages: the build runs in this package's folder, which is named where it is
 * not the current one (the package installed as another project's dependency).
 */
export const ONEDNN_INSTALL_HINT = `apt-get install libdnnl-dev g++ && ${resolve(process.cwd()) === PACKAGE_ROOT ? '' : `cd ${PACKAGE_ROOT} && `}npm run build:native`;

let registered = false;
let warnedSlow = false;

/** Whether the native addon is built and loads on this machine. */
export function nativeBackendAvailable(): boolean {
  return loadNative() !== null;
}

/** Why the native backend is unavailable ('' when it is available). */
export function nativeBackendUnavailableReason(): string {
  return loadNative() === null ? nativeLoadError() : '';
}

/** oneDNN's version, ISA and thread count, or null when the addon is not available. */
export function onednnInfo(): NativeInfo | null {
  return loadNative()?.info() ?? null;
}

/**
 * Registers the `onednn` backend with tfjs (once) if the addon loads. Returns whether it is registered.
 * Does not make it the active backend: use `initBackend`.
 */
export function registerOnednnBackend(): boolean {
  // tf.removeBackend('onednn') drops the backend's factory (its kernels stay registered): make it again then.
  if (registered && tf.findBackendFactory(ONEDNN_BACKEND_NAME) !== null) return true;
  const native = loadNative();
  if (native === null) return false;
  tf.registerBackend(ONEDNN_BACKEND_NAME, () => new BackendOnednn(native), 3);
  if (!registered) registerAllKernels();
  registered = true;
  return true;
}

/**
 * What to run to get the native backend, after `lead`: the install command, unless the addon failed to load only
 * because another thread of this process owns it (installing would not help there).
 */
function remedy(lead: string): string {
  return nativeLoadError().includes('in use by another thread') ? '' : `${lead}\`${ONEDNN_INSTALL_HINT}\``;
}

/**
 * Sets the tfjs backend and returns the name of the one in use.
 * - 'onednn': the native backend; throws if its addon is not built or does not load.
 * - 'cpu': tfjs's pure-JS CPU backend.
 * - 'auto': 'onednn' when available, else 'cpu' (saying once on stderr how to get the fast one).
 */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<string> {
  let name = 'cpu';
  if (choice === 'onednn' || choice === 'auto') {
    if (registerOnednnBackend()) {
      name = ONEDNN_BACKEND_NAME;
    } else if (choice === 'onednn') {
      throw new Error(`the onednn backend is not available (${nativeLoadError()})${remedy('; run ')}`);
    } else if (!warnedSlow) {
      warnedSlow = true;
      process.stderr.write(
        `resnet: the native onednn backend is not available (${nativeLoadError()}); using the slow cpu backend` +
          `${remedy('. For the fast one run ')}\n`,
      );
    }
  }
  if (!(await tf.setBackend(name))) throw new Error(`cannot initialise the ${name} backend`);
  await tf.ready();
  if (name === 'cpu') {
    // The CPU backend's first write prints "install tfjs-node", which cannot install here; the hint above is ours.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  return tf.getBackend();
}
