/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) with Linux `crc32c(seed, …)`
 * semantics: the caller passes the running state and no final XOR is applied. EROFS stores
 * `crc32c(~0, block0[1024 .. 1024+len))` with the checksum field zeroed.
 * Hand-written (see docs/adr/0004-small-hashes.md): 20 lines, runs in browsers, no native code.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

export function crc32c(seed: number, bytes: Uint8Array): number {
  let c = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) c = (TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8)) >>> 0;
  return c >>> 0;
}
