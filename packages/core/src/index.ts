/**
 * erofs-kit core: browser-safe entry. No node:* imports here or below (see ARCHITECTURE.md).
 */
export { ErofsError, isErofsError, hex, toSafeNumber } from './errors.js';
export type { ErrorCode, ErrorInfo, ErofsErrorJSON, Format } from './errors.js';
export { defineStruct, decode, encode, trace, fieldOf } from './layout/struct.js';
export type { StructDef, Field, FieldDef, Span, Kind } from './layout/struct.js';
export { MemorySource, BlobSource, SliceSource, BlockCache } from './io/source.js';
export type { ByteSource, CacheOptions } from './io/source.js';
export * as format from './erofs/format.js';
export { COMPAT_FEATURES, INCOMPAT_FEATURES, featureNames, featuresSet, unsupportedIncompat } from './erofs/features.js';
export type { FeatureInfo, FeatureSet } from './erofs/features.js';
export { crc32c } from './erofs/checksum.js';
export { xxh32 } from './erofs/xxhash.js';
export { ErofsImage, splitPath, isDotOrDotDot, textDecoder, textEncoder } from './erofs/image.js';
export type { Inode, DirEntry, Extent, ExtentCompression, DeviceInfo, OpenOptions } from './erofs/image.js';
export { zmapRange, inodeRecordEnd } from './erofs/zmap.js';
export type { CompressionConfig } from './erofs/zmap.js';
export { lz4Decompress, microLzmaDecompress, deflateDecompress, zstdDecompress } from './compress/index.js';
export type { Decompressor } from './compress/index.js';
export { readXattrs, getXattr, filterBit, filterEnabled, nameFilter, splitXattrName } from './erofs/xattr.js';
export type { Xattr, LongPrefix } from './erofs/xattr.js';
export { walk, walkBatches, checkName, checkUnique, WalkEntry } from './erofs/walk.js';
export { fsck, fsckSource, FSCK_CHECKS } from './erofs/fsck.js';
export { compatibility, compareVersions, oldKernelRefusesSymlink, COMPAT_TABLE } from './erofs/compat.js';
export type { Compatibility, CompatFact, CompatFeature, InodeUsage } from './erofs/compat.js';
export { verifyTarIndex, TAR_CHECKS } from './tarindex/verify.js';
export type { TarCheck, TarCheckProblem, TarCheckReport, TarCheckOptions } from './tarindex/verify.js';
export type { FsckReport, FsckProblem, FsckCheck, FsckOptions, FsckStats } from './erofs/fsck.js';
export { writeImage, writeImageTo, encodeDev } from './erofs/writer.js';
export type { WriterOptions, WriteResult, WriteProgress, ExtraDevice, ImageSink } from './erofs/writer.js';
export { chooseLongPrefixes, longPrefix, MAX_LONG_PREFIXES, type LongPrefixDef, type StoredXattrs } from './erofs/long-prefixes.js';
export { newDir, nameKey, keyBytes } from './tree/node.js';
export type { TreeNode, FileData, DeviceRange, CopyRange } from './tree/node.js';
export { readTar, readTarBatches } from './tar/reader.js';
export type { TarReadOptions, TarEnd } from './tar/reader.js';
export type { TarEntry, TarEntryType, TarTime, TarWarning, SparseSegment } from './tar/entry.js';
export { TarTreeBuilder, sparseInPlace, treeOfTar } from './tarindex/tree.js';
export { indexTar, uuidFromDigest } from './tarindex/index.js';
export { buildFromTar } from './build/tar.js';
export type { LayerTree, TreeBuilderOptions } from './tarindex/tree.js';
export {
  memoryFiles,
  tarFiles,
  LAYER_MEDIA_TYPES,
  MT_CONFIG,
  MT_INDEX,
  MT_LAYOUT_HEADER,
  MT_MANIFEST,
  REF_NAME,
  blobPath,
  checkDigest,
  formatPlatform,
  parsePlatform,
  defaultDecompressor,
  layerStream,
  OCI_CHECKS,
  MAX_JSON_SIZE,
  KNOWN_MEDIA_TYPES,
  checkOciDocument,
  ociDocumentKind,
  problemError,
  readOci,
  selectImage,
  mergeLayers,
  OCI_SUMMARY_SCHEMA_VERSION,
  ConvertCancelled,
  convertOciImage,
  mountCommand,
  parseLayerStamp,
} from './oci/index.js';
export type {
  OciFiles,
  DigestCheck,
  LayerCompression,
  LayerMediaType,
  Platform,
  LayerDecompressor,
  LayerStream,
  OciCheck,
  OciDescriptor,
  OciDocumentKind,
  OciDocumentOptions,
  OciDocumentReport,
  MediaTypeRole,
  OciImage,
  OciLayer,
  OciProblem,
  OciReadOptions,
  OciReport,
  LayerTreeInput,
  ConvertOptions,
  ConvertOutput,
  ConvertResult,
  ConvertStep,
  OciLayerStamp,
  OciSummary,
  PendingFile,
} from './oci/index.js';
export { writeComposefs } from './composefs/writer.js';
export type { ComposefsWriteOptions, ComposefsWriteResult } from './composefs/writer.js';
export { parseDump, dumpImage, dumpImageText, escapeDump, isComposefsImage } from './composefs/dump.js';
export type { DumpOptions } from './composefs/dump.js';
export { cfsDir, makeDev, digestPath } from './composefs/node.js';
export { composefsTree, readNodeData } from './composefs/from-tree.js';
export type { ComposefsTree, ComposefsTreeOptions, ComposefsObject } from './composefs/from-tree.js';
export type { CfsNode } from './composefs/node.js';
export * as composefsFormat from './composefs/format.js';
export { aufsToOverlay, stripOverlay } from './tree/overlay.js';
export type { BuildOptions, BuildResult } from './build/tar.js';
export type { TarIndexOptions, TarIndexResult } from './tarindex/index.js';
export { sha256, sha512, defaultHash, toHex } from './digest/hash.js';
export type { Hash, HashFactory, HashAlgorithm } from './digest/hash.js';
export { FsVerityHasher, fsverityDigest, formatDigest, merkleTreeGeometry } from './digest/fsverity.js';
export type { FsVerityOptions, MerkleLevel } from './digest/fsverity.js';
export { inspect, ByteMap, spanAt, spanIndexFrom, layoutInspectors, parseHint, parseHintLine, formatHint, imageHint, isHintLine, emptyHint, REQUESTABLE } from './inspect/index.js';
export type {
  InspectOptions,
  Segment,
  Annotation,
  InspectDiagnostic,
  InspectResult,
  Severity,
  Structure,
  StructureKind,
  Target,
  ErofsInspectContext,
  Geometry,
  InspectedInode,
  LayoutInspector,
  ErofsHint,
  HintProblem,
} from './inspect/index.js';
export { modeString, formatTime, quoteBytes } from './inspect/describe.js';
export { parseHexdump, isHexdump, HexDump } from './hexdump/parse.js';
export type { DumpFormat, DumpProblem, LineRange } from './hexdump/parse.js';
export { formatXxd, xxdLines } from './hexdump/format.js';
export type { XxdOptions } from './hexdump/format.js';
