/** Convert Image's output folder on a Node filesystem: core's, with reused layer tars read through a yielding source. */
import { FileSource, nodeConvertOutput as coreNodeConvertOutput } from '@erofs-kit/core/node';
import type { ConvertOutput } from './model/oci-convert.js';
import { YieldingSource } from './model/yielding.js';

export function nodeConvertOutput(dir: string): ConvertOutput {
  return coreNodeConvertOutput(dir, { openSource: (p) => new YieldingSource(new FileSource(p)) });
}
