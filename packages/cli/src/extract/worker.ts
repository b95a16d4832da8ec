/**
 * An extraction worker (worker_threads): opens the image itself and writes the regular
 * files the main thread sends in batches (their directories already exist). Files with
 * several links go back to the main thread, as do the xattrs and exact times to set once
 * everything exists.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ErofsError, isErofsError } from '@erofs-kit/core';
import { openImage } from '../util.js';
import { createSized, isCompressedInode, splitRanges, writeFile, writeRange } from './file.js';
import type { DoneReply, FileBatch, RangeTask, WorkerInit, WorkerReply } from './protocol.js';

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const init = workerData as WorkerInit;
const port = parentPort!;
const send = (r: WorkerReply): void => port.postMessage(r);
// Every byte read here is written out at once: the cache may reuse its memory. A small cache
// starts reusing sooner (file data streams through it; 4 MiB still holds the metadata in use):
// fewer fresh blocks, page faults and collections than the default 32 MiB.
const opened = openImage(init.image, init.devices, { recycle: true, maxBytes: 4 << 20 });
let failed = false;
let chain: Promise<void> = Promise.resolve();

/** Ranges of split files: run before the next file of any batch (another worker waits on them). */
const urgent: RangeTask[] = [];

port.on('message', (m: FileBatch | RangeTask) => {
  if (m.kind === 'range') {
    urgent.push(m);
    chain = chain.then(runUrgent);
  } else chain = chain.then(() => work(m));
});

async function runUrgent(): Promise<void> {
  while (urgent.length > 0 && !failed) {
    const t = urgent.shift()!;
    const p = Buffer.from(t.path.buffer, t.path.byteOffset, t.path.length);
    try {
      const { img } = await opened;
      const ino = await img.inode(t.nid);
      await writeRange(img, ino, p, t.start, t.end);
      send({ kind: 'done', id: t.id, files: 0, bytes: 0, deferred: [], xattrs: [], times: [] });
    } catch (e) {
      report(e, t.id, p.toString('latin1'));
    }
  }
}

function report(e: unknown, id: number, path: string): void {
  failed = true;
  if (isErofsError(e)) send({ kind: 'error', id, path, error: e.toJSON() });
  else {
    const err = e as NodeJS.ErrnoException;
    send({ kind: 'error', id, path, io: err.code ?? err.message });
  }
}

async function work(b: FileBatch): Promise<void> {
  if (failed) return;
  let path = '';
  try {
    const { img } = await opened;
    const r: DoneReply = { kind: 'done', id: b.id, files: 0, bytes: 0, deferred: [], xattrs: [], times: [] };
    let start = 0;
    for (let i = 0; i < b.nids.length; i++) {
      if (urgent.length > 0) await runUrgent();
      if (failed) return;
      const end = b.ends[i]!;
      const p = Buffer.from(b.paths.buffer, b.paths.byteOffset + start, end - start);
      start = end;
      path = '';
      try {
        const ino = await img.inode(b.nids[i]!);
        if ((ino.mode & S_IFMT) !== S_IFREG) {
          throw new ErofsError('invalid-value', `dirent file_type 1 does not match the inode's mode ${ino.mode.toString(8)}`, { offset: ino.offset, length: 2 });
        }
        if (ino.nlink > 1) {
          r.deferred.push([i, ino.nid]);
          continue;
        }
        let split = false;
        if (init.splitBytes > 0 && init.jobs > 1 && ino.size >= init.splitBytes && isCompressedInode(ino)) {
          const ranges = await splitRanges(img, ino, init.jobs);
          if (ranges.length > 1) {
            // Other workers write the other ranges meanwhile; the main thread sets the special
            // mode bits and the times once every range is written.
            createSized(ino, p, init.isRoot);
            send({ kind: 'split', id: b.id, index: i, nid: ino.nid, ranges: ranges.slice(1), mode: ino.mode, mtime: ino.mtime, mtimeNsec: ino.mtimeNsec });
            await writeRange(img, ino, p, ranges[0]![0], ranges[0]![1]);
            send({ kind: 'split-done', id: b.id, index: i });
            split = true;
          }
        }
        if (!split) await writeFile(img, ino, p, init.isRoot);
        r.files++;
        r.bytes += ino.size;
        if (ino.xattrSize > 0) for (const x of await img.xattrs(ino)) if (x.kernelVisible) r.xattrs.push([i, x.name, x.value]);
        if (!split && (ino.mtimeNsec !== 0 || ino.mtime < 0)) r.times.push([i, ino.mtime, ino.mtimeNsec]);
      } catch (e) {
        path = p.toString('latin1');
        throw e;
      }
    }
    send(r);
  } catch (e) {
    report(e, b.id, path);
  }
}

void opened.then(
  () => send({ kind: 'ready' }),
  (e: unknown) => {
    failed = true;
    const j = isErofsError(e) ? e.toJSON() : new ErofsError('io', `cannot open ${init.image}: ${(e as Error).message}`, { format: 'io', path: init.image }).toJSON();
    send({ kind: 'error', id: -1, path: '', error: j });
  },
);
