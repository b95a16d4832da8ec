/**
 * The machine-readable reports of `fsck --json` and `verify --json`. Their shape is the JSON
 * Schema in docs/schema/report-v1.schema.json; `schemaVersion` changes when a field is
 * removed or changes meaning (adding an optional field does not).
 */
import { compatibility, type Compatibility, type ErofsImage } from '@erofs-kit/core';

export const REPORT_SCHEMA_VERSION = 1 as const;
export type { Compatibility };

/** The compatibility section of a report. */
export function compatibilityOf(img: ErofsImage): Compatibility {
  return compatibility(img);
}
