/**
 * A byte source that lets the extension host breathe. Core's readers never wait on a Node file
 * (reads are synchronous behind the async interface), so a long pass (fsck, a tar index, a
 * large listing) would hold the extension host's event loop for seconds: no progress shown,
 * no cancellation seen, "extension host unresponsive". This wrapper offers only the async
 * `read` (so the block cache awaits once per 64 KiB block) and, once a slice of time has run,
 * returns through a macrotask.
 */
import type { ByteSource } from '@erofs-kit/core';

export class YieldingSource implements ByteSource {
  readonly size: number;
  readonly name: string;
  private last = Date.now();

  constructor(
    private readonly inner: ByteSource,
    private readonly sliceMs = 40,
  ) {
    this.size = inner.size;
    this.name = inner.name;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const bytes = await this.inner.read(offset, length);
    const now = Date.now();
    if (now - this.last >= this.sliceMs) {
      await new Promise((r) => setTimeout(r, 0));
      this.last = Date.now();
    }
    return bytes;
  }

  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}
