/** OCI images: layouts and docker-archives read and checked, layers stacked (ADR 0019). */
export { memoryFiles, tarFiles, type OciFiles } from './files.js';
export {
  LAYER_MEDIA_TYPES,
  KNOWN_MEDIA_TYPES,
  MT_CONFIG,
  MT_INDEX,
  MT_LAYOUT_HEADER,
  MT_MANIFEST,
  REF_NAME,
  blobPath,
  checkDigest,
  formatPlatform,
  parsePlatform,
  type DigestCheck,
  type LayerCompression,
  type LayerMediaType,
  type MediaTypeRole,
  type Platform,
} from './spec.js';
export { defaultDecompressor, layerStream, type LayerDecompressor, type LayerStream } from './layer.js';
export {
  OCI_CHECKS,
  MAX_JSON_SIZE,
  checkOciDocument,
  ociDocumentKind,
  problemError,
  readOci,
  selectImage,
  type OciCheck,
  type OciDescriptor,
  type OciDocumentKind,
  type OciDocumentOptions,
  type OciDocumentReport,
  type OciImage,
  type OciLayer,
  type OciProblem,
  type OciReadOptions,
  type OciReport,
} from './layout.js';
export { mergeLayers, type LayerTreeInput } from './merge.js';
