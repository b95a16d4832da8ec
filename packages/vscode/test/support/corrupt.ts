/**
 * A corrupt copy of basic-4k for Verify Image: /sizes/size-1 claims 5 links but has one name
 * (fsck check `nlink`; the image still mounts). The superblock checksum is recomputed, so
 * only that defect remains. Offsets come from core's structure tables.
 */
import { ErofsImage, MemorySource, crc32c, fieldOf, format } from '@erofs-kit/core';

export const CORRUPT_PATH = '/sizes/size-1';

export async function corruptNlink(original: Uint8Array): Promise<Uint8Array> {
  const b = original.slice();
  const img = await ErofsImage.open(new MemorySource(b));
  const ino = await img.lookup(CORRUPT_PATH);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (ino.compact) dv.setUint16(ino.offset + fieldOf(format.inodeCompact, 'i_nb').offset, 5, true);
  else dv.setUint32(ino.offset + fieldOf(format.inodeExtended, 'i_nlink').offset, 5, true);
  if (img.sb.feature_compat & 1) {
    const area = b.slice(1024, Math.max(img.blockSize, 2048));
    area.fill(0, 4, 8);
    dv.setUint32(1024 + fieldOf(format.superBlock, 'checksum').offset, crc32c(0xffffffff, area), true);
  }
  return b;
}
