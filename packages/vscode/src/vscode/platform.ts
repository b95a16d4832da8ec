/** What differs between the Node extension host and the web worker one. */
import type { ByteSource, HashAlgorithm, HashFactory } from '@erofs-kit/core';
import type * as vscode from 'vscode';
import type { ExtractTarget } from '../model/extract.js';
import type { Spool } from '../model/open.js';
import type { ConvertOutput } from '../model/oci-convert.js';


/** Writes one output file piece by piece; `abort` removes what was written. */
export interface OutputFile {
  write(chunk: Uint8Array): void;
  close(): Promise<void>;
  abort(): Promise<void>;
}

export interface Platform {
  readonly name: 'node' | 'web';
  /** SHA-256 for fs-verity digests (node:crypto on Node; core's default otherwise). */
  readonly sha256?: HashFactory;
  /** Hashes by algorithm for OCI digests (node:crypto on Node; core's default otherwise). */
  readonly hash?: (a: HashAlgorithm) => HashFactory;
  /** Random access to a file: a file handle for `file:` URIs on Node, whole-file bytes otherwise. */
  openSource(uri: vscode.Uri): Promise<ByteSource>;
  spool?(): Spool;
  extractTarget(root: vscode.Uri): ExtractTarget;
  createOutput(uri: vscode.Uri): Promise<OutputFile>;
  /** Convert Image's output folder with streamed writes (Node, `file:` URIs); otherwise workspace.fs is used. */
  convertOutput?(dir: vscode.Uri): ConvertOutput | undefined;
}
