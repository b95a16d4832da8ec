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
        "FsVerityHasher",
        "INCOMPAT_FEATURES",
        "MemorySource",
        "SliceSource",
        "TarTreeBuilder",
        "WalkEntry",
        "checkName",
        "checkUnique",
        "crc32c",
        "decode",
        "defaultHash",
        "defineStruct",
        "deflateDecompress",
        "encode",
        "encodeDev",
        "featureNames",
        "featuresSet",
        "fieldOf",
        "filterBit",
        "filterEnabled",
        "format",
        "formatDigest",
        "fsck",
        "fsverityDigest",
        "getXattr",
        "hex",
        "indexTar",
        "isDotOrDotDot",
        "isErofsError",
        "keyBytes",
        "lz4Decompress",
        "merkleTreeGeometry",
        "microLzmaDecompress",
        "nameFilter",
        "nameKey",
        "newDir",
        "readTar",
        "readTarBatches",
        "readXattrs",
        "sha256",
        "sha512",
        "sparseInPlace",
        "splitPath",
        "splitXattrName",
        "textDecoder",
        "textEncoder",
        "toHex",
        "toSafeNumber",
        "trace",
        "unsupportedIncompat",
        "uuidFromDigest",
        "walk",
        "walkBatches",
        "writeImage",
        "xxh32",
        "zstdDecompress",
      ]
    `);
  });
  it('node entry exports', () => {
    expect(Object.keys(node).sort()).toMatchInlineSnapshot(`
      [
        "FileSource",
        "fsverityFile",
        "nodeHash",
        "nodeSha256",
        "nodeSha512",
        "openFile",
        "threadedSha256",
      ]
    `);
  });
});
