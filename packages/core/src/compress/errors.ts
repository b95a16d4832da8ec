/**
 * Decoders report problems as `invalid-value` (corrupt stream) or `too-large` (a header
 * asking for more memory than an EROFS pcluster can need) with `offset` relative to the
 * start of their input; the map layer re-raises them with the image offset and the inode.
 */
import { ErofsError } from '../errors.js';

export function corrupt(algorithm: string, message: string, at: number): ErofsError {
  return new ErofsError('invalid-value', `${algorithm}: ${message}`, { offset: at });
}
