/**
 * fs-verity file digest (erofs-format.md §10), computed in one streaming pass.
 *
 * The Merkle tree is built bottom-up while bytes arrive: each level keeps only its one
 * partially filled block, so memory is (tree height + 1) × block size whatever the file size.
 * Level 0 is the file itself; a full block at level k is hashed and its digest appended to
 * level k + 1. At the end, partial blocks are zero-padded and hashed upwards until a level
 * holds a single digest: the root hash. The file digest is the hash of the 256-byte
 * descriptor (./format.ts) that records the parameters, the size and the root hash.
 */
import { ErofsError } from '../errors.js';
import { encode } from '../layout/struct.js';
import {
  FS_VERITY_HASH_ALG_SHA256,
  FS_VERITY_HASH_ALG_SHA512,
  FS_VERITY_MAX_SALT_SIZE,
  fsverityDescriptor,
} from './format.js';
import { defaultHash, HASH_SIZES, toHex, type HashAlgorithm, type HashFactory } from './hash.js';

export interface FsVerityOptions {
  /** Merkle tree hash; default sha256, or the `algorithm` of `hash` when that is given. */
  algorithm?: HashAlgorithm;
  /** Merkle tree block size: a power of two in [1024, 65536]; default 4096. */
  blockSize?: number;
  /** At most 32 bytes; default none. */
  salt?: Uint8Array;
  /** Hash backend computing `algorithm`; default @noble/hashes (node:crypto from the Node entry is faster). */
  hash?: HashFactory;
  /**
   * Keep the Merkle tree's blocks so {@link FsVerityHasher.merkleTree} can return them (the
   * tree is about digestSize / blockSize of the data: 8 MiB for 1 GiB with SHA-256 and 4 KiB
   * blocks). Default false: memory stays (tree height + 1) × block size.
   */
  keepTree?: boolean;
}

/** One stored level of a Merkle tree: its blocks and where it starts in the tree file. */
export interface MerkleLevel {
  /** Blocks in this level (the last one zero-padded). */
  blocks: number;
  /** Byte offset of the level in the tree as `fsverity digest --out-merkle-tree` writes it. */
  offset: number;
}

/**
 * Shape of the stored Merkle tree of a `dataSize`-byte file: the levels above the data,
 * **top level first** (the order fs-verity stores them after a file's data and fsverity-utils
 * writes with `--out-merkle-tree`). `levels[levels.length - 1]` is the level that hashes the
 * data blocks. A file of at most one block has no stored level (its root is the hash of
 * that block); an empty file has none either (its root is all zeros).
 */
export function merkleTreeGeometry(dataSize: number, blockSize: number, algorithm: HashAlgorithm): { levels: MerkleLevel[]; size: number } {
  const per = blockSize / HASH_SIZES[algorithm].digestSize;
  const counts: number[] = [];
  for (let blocks = Math.ceil(dataSize / blockSize); blocks > 1; ) {
    blocks = Math.ceil(blocks / per);
    counts.push(blocks);
  }
  counts.reverse();
  const levels: MerkleLevel[] = [];
  let offset = 0;
  for (const blocks of counts) {
    levels.push({ blocks, offset });
    offset += blocks * blockSize;
  }
  return { levels, size: offset };
}

const MIN_BLOCK_SIZE = 1024;
const MAX_BLOCK_SIZE = 65536;
const ALG_ID: Record<HashAlgorithm, number> = { sha256: FS_VERITY_HASH_ALG_SHA256, sha512: FS_VERITY_HASH_ALG_SHA512 };

/** One tree level above the data: a block being filled with the digests of the level below. */
interface Level {
  readonly block: Uint8Array;
  fill: number;
  /** Digests ever appended to this level. */
  count: number;
}

/** Streaming fs-verity hasher: `update` with chunks of any size, then `digest` once. */
export class FsVerityHasher {
  readonly algorithm: HashAlgorithm;
  readonly blockSize: number;
  readonly salt: Uint8Array;
  /** Bytes consumed so far. */
  get size(): number {
    return this.dataSize;
  }

  private readonly factory: HashFactory;
  private readonly digestSize: number;
  /** The salt zero-padded to the hash's input block size, or empty. */
  private readonly saltPrefix: Uint8Array;
  /** saltPrefix ‖ block, for one-shot backends with a salt; null otherwise. */
  private readonly scratch: Uint8Array | null;
  private readonly data: Uint8Array;
  private dataFill = 0;
  private dataSize = 0;
  private readonly levels: Level[] = [];
  private root: Uint8Array | null = null;
  private desc: Uint8Array | null = null;
  private fileDigest: Uint8Array | null = null;
  /** With keepTree: every hashed tree block, per level (0 = the level hashing the data). */
  private readonly kept: Uint8Array[][] | null;
  /** Set once a partial data block was given as a digest (appendLeafDigests): no more input. */
  private sealed = false;

  constructor(opts: FsVerityOptions = {}) {
    const algorithm = opts.algorithm ?? opts.hash?.algorithm ?? 'sha256';
    if (algorithm !== 'sha256' && algorithm !== 'sha512') {
      throw new ErofsError('invalid-value', `fs-verity hash algorithm ${String(algorithm)} is not sha256 or sha512`);
    }
    const factory = opts.hash ?? defaultHash(algorithm);
    if (factory.algorithm !== undefined && factory.algorithm !== algorithm) {
      throw new ErofsError('invalid-value', `fs-verity algorithm ${algorithm} but the hash factory computes ${factory.algorithm}`);
    }
    const { digestSize, blockSize: hashBlockSize } = HASH_SIZES[algorithm];
    const probe = factory().digest().length;
    if (probe !== digestSize) {
      throw new ErofsError('invalid-value', `fs-verity ${algorithm} needs ${digestSize}-byte digests, the hash factory makes ${probe}`);
    }
    const blockSize = opts.blockSize ?? 4096;
    if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
      throw new ErofsError('invalid-value', `fs-verity block size ${blockSize} is not a power of two in [${MIN_BLOCK_SIZE}, ${MAX_BLOCK_SIZE}]`);
    }
    const salt = opts.salt ?? new Uint8Array(0);
    if (salt.length > FS_VERITY_MAX_SALT_SIZE) {
      throw new ErofsError('invalid-value', `fs-verity salt of ${salt.length} bytes exceeds ${FS_VERITY_MAX_SALT_SIZE}`);
    }

    this.algorithm = algorithm;
    this.blockSize = blockSize;
    this.salt = salt.slice();
    this.factory = factory;
    this.digestSize = digestSize;
    const padded = salt.length === 0 ? 0 : Math.ceil(salt.length / hashBlockSize) * hashBlockSize;
    this.saltPrefix = new Uint8Array(padded);
    this.saltPrefix.set(salt);
    this.scratch = factory.oneShot && padded > 0 ? new Uint8Array(padded + blockSize) : null;
    if (this.scratch) this.scratch.set(this.saltPrefix);
    this.data = new Uint8Array(blockSize);
    this.kept = opts.keepTree ? [] : null;
  }

  /** Feeds the next bytes of the file. Full blocks are hashed straight from `chunk`. */
  update(chunk: Uint8Array): void {
    if (this.root !== null) throw new Error('FsVerityHasher: update after digest');
    if (this.sealed) throw new Error('FsVerityHasher: update after a partial last block');
    const bs = this.blockSize;
    const n = chunk.length;
    this.dataSize += n;
    let pos = 0;
    if (this.dataFill > 0) {
      pos = Math.min(bs - this.dataFill, n);
      this.data.set(pos === n ? chunk : chunk.subarray(0, pos), this.dataFill);
      this.dataFill += pos;
      if (this.dataFill < bs) return;
      this.append(0, this.hashBlock(this.data));
      this.dataFill = 0;
    }
    for (; n - pos >= bs; pos += bs) this.append(0, this.hashBlock(chunk.subarray(pos, pos + bs)));
    if (pos < n) {
      this.data.set(chunk.subarray(pos), 0);
      this.dataFill = n - pos;
    }
  }

  /**
   * Feeds the digests of consecutive data blocks computed elsewhere (worker threads hashing
   * ranges of a file: `src/node/merkle-pool.ts`), as if their `bytes` of data had been given
   * to `update`. Each digest must be hash(salt prefix ‖ block) of a full block, or of the
   * zero-padded last block when `bytes` is not a multiple of the block size, which then
   * ends the input. Only valid on a block boundary (no partial block pending from `update`).
   */
  appendLeafDigests(digests: Uint8Array, bytes: number): void {
    if (this.root !== null) throw new Error('FsVerityHasher: appendLeafDigests after digest');
    if (this.sealed) throw new Error('FsVerityHasher: input after a partial last block');
    if (this.dataFill !== 0) throw new Error('FsVerityHasher: appendLeafDigests needs a block boundary');
    const ds = this.digestSize;
    if (digests.length !== Math.ceil(bytes / this.blockSize) * ds) {
      throw new Error(`FsVerityHasher: ${digests.length} bytes of digests for ${bytes} bytes of data`);
    }
    for (let o = 0; o < digests.length; o += ds) this.append(0, digests.subarray(o, o + ds));
    this.dataSize += bytes;
    if (bytes % this.blockSize !== 0) this.sealed = true;
  }

  /**
   * The Merkle tree as fs-verity stores it and `fsverity digest --out-merkle-tree` writes it:
   * levels top first, each a whole number of zero-padded blocks ({@link merkleTreeGeometry}).
   * Needs `keepTree`. Ends the input.
   */
  merkleTree(): Uint8Array {
    if (this.kept === null) throw new Error('FsVerityHasher: merkleTree() needs the keepTree option');
    this.finishTree();
    const top = this.kept.length;
    let size = 0;
    for (const level of this.kept) size += level.length * this.blockSize;
    const out = new Uint8Array(size);
    let o = 0;
    for (let k = top - 1; k >= 0; k--) {
      for (const b of this.kept[k]!) {
        out.set(b, o);
        o += b.length;
      }
    }
    return out;
  }

  /** The Merkle tree root hash (all zeros for an empty file). Ends the input. */
  rootHash(): Uint8Array {
    return this.finishTree().slice();
  }

  /** The 256-byte fsverity_descriptor (sig_size 0) whose hash is the file digest. Ends the input. */
  descriptor(): Uint8Array {
    if (this.desc === null) {
      this.desc = encode(fsverityDescriptor, {
        version: 1,
        hash_algorithm: ALG_ID[this.algorithm],
        log_blocksize: 31 - Math.clz32(this.blockSize),
        salt_size: this.salt.length,
        sig_size: 0,
        data_size: BigInt(this.dataSize),
        root_hash: this.finishTree(),
        salt: this.salt,
      });
    }
    return this.desc.slice();
  }

  /** The fs-verity file digest, as `fsverity digest` prints and FS_IOC_MEASURE_VERITY returns. Ends the input. */
  digest(): Uint8Array {
    this.fileDigest ??= this.factory().update(this.descriptor()).digest();
    return this.fileDigest.slice();
  }

  private finishTree(): Uint8Array {
    if (this.root !== null) return this.root;
    if (this.dataSize === 0) return (this.root = new Uint8Array(this.digestSize));
    if (this.dataFill > 0) {
      this.data.fill(0, this.dataFill);
      this.append(0, this.hashBlock(this.data));
      this.dataFill = 0;
    }
    // Level k holds count digests; a level with one digest is the top. A full block was
    // already passed up by append(), so only a partial one remains to be padded and hashed.
    for (let k = 0; ; k++) {
      const level = this.levels[k]!;
      if (level.count === 1) return (this.root = level.block.slice(0, this.digestSize));
      if (level.fill > 0) {
        level.block.fill(0, level.fill);
        this.keep(k, level.block);
        this.append(k + 1, this.hashBlock(level.block));
        level.fill = 0;
      }
    }
  }

  /** Appends the digest of a block of the level below to tree level `k` (0 = first above the data). */
  private append(k: number, digest: Uint8Array): void {
    let level = this.levels[k];
    if (level === undefined) {
      level = { block: new Uint8Array(this.blockSize), fill: 0, count: 0 };
      this.levels.push(level);
    }
    level.block.set(digest, level.fill);
    level.fill += digest.length;
    level.count++;
    if (level.fill === this.blockSize) {
      this.keep(k, level.block);
      this.append(k + 1, this.hashBlock(level.block));
      level.fill = 0;
    }
  }

  /** With keepTree, records a copy of a finished block of tree level `k`. */
  private keep(k: number, block: Uint8Array): void {
    if (this.kept === null) return;
    (this.kept[k] ??= []).push(block.slice());
  }

  /** hash(salt prefix ‖ block) for one full block. */
  private hashBlock(block: Uint8Array): Uint8Array {
    const oneShot = this.factory.oneShot;
    if (oneShot) {
      if (this.scratch === null) return oneShot(block);
      this.scratch.set(block, this.saltPrefix.length);
      return oneShot(this.scratch);
    }
    const h = this.factory();
    if (this.saltPrefix.length > 0) h.update(this.saltPrefix);
    return h.update(block).digest();
  }
}

/** Bytes, or a stream of chunks (a Node Readable, `blob.stream()`, any async or sync iterable). */
export type ByteInput = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** The fs-verity file digest of `input`, read in one pass. */
export async function fsverityDigest(input: ByteInput, opts: FsVerityOptions = {}): Promise<Uint8Array> {
  const hasher = new FsVerityHasher(opts);
  const whole = asBytes(input);
  if (whole !== null) {
    hasher.update(whole);
  } else {
    for await (const chunk of input as AsyncIterable<unknown> | Iterable<unknown>) {
      const bytes = asBytes(chunk);
      if (bytes === null) throw new TypeError(`fsverityDigest: a stream chunk is ${typeof chunk}, not bytes`);
      hasher.update(bytes);
    }
  }
  return hasher.digest();
}

/** Any typed array or DataView as bytes (also across realms, where instanceof fails); null otherwise. */
function asBytes(x: unknown): Uint8Array | null {
  if (x instanceof Uint8Array) return x;
  if (!ArrayBuffer.isView(x)) return null;
  return new Uint8Array(x.buffer, x.byteOffset, x.byteLength);
}

/** Printed form of a file digest: `sha256:<hex>`, as `fsverity digest` and composefs write it. */
export function formatDigest(digest: Uint8Array, algorithm: HashAlgorithm): string {
  return `${algorithm}:${toHex(digest)}`;
}
