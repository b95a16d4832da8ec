import { describe, expect, it } from 'vitest';
import * as core from '../src/index.js';
import * as node from '../src/node/index.js';

// The public API is an explicit list: a change here is deliberate and reviewed.
describe('public API', () => {
  it('core exports', () => {
    expect(Object.keys(core).sort()).toMatchInlineSnapshot(`
      [
        "BlobSource",
        "BlockCache",
        "COMPAT_FEATURES",
        "ErofsError",
        "ErofsImage",
        "INCOMPAT_FEATURES",
        "MemorySource",
        "SliceSource",
        "WalkEntry",
        "crc32c",
        "decode",
        "defineStruct",
        "encode",
        "featureNames",
        "fieldOf",
        "filterBit",
        "filterEnabled",
        "format",
        "fsck",
        "getXattr",
        "hex",
        "isDotOrDotDot",
        "isErofsError",
        "nameFilter",
        "readXattrs",
        "splitPath",
        "splitXattrName",
        "textDecoder",
        "textEncoder",
        "toSafeNumber",
        "trace",
        "unsupportedIncompat",
        "walk",
        "walkBatches",
        "xxh32",
      ]
    `);
  });
  it('node entry exports', () => {
    expect(Object.keys(node).sort()).toMatchInlineSnapshot(`
      [
        "FileSource",
        "openFile",
      ]
    `);
  });
});
