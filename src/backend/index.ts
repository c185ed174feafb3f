/**
 * Backend selection. PLACEHOLDER until the oneDNN backend lands: always uses tfjs's 'cpu' backend.
 */
import * as tf from '@tensorflow/tfjs';

/** Which backend to use: 'auto' picks the fastest one available. */
export type BackendChoice = 'auto' | 'onednn' | 'cpu';

/** Sets the tfjs backend and returns the name of the one in use. */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<string> {
  if (choice === 'onednn') throw new Error('the onednn backend is not available');
  await tf.setBackend('cpu');
  await tf.ready();
  return tf.getBackend();
}
