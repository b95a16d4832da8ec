/**
 * A synthetic layer tar with many files, for timing: `/usr/lib` holds `libFiles` small files
 * and `/usr/share/doc/pkgN/` the rest, ten per directory. ustar headers written here (name,
 * mode, size, mtime, typeflag, magic, checksum); file bodies are 12 bytes.
 */
const enc = new TextEncoder();

function header(name: string, type: '0' | '5', size: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, len: number, s: string) => h.set(enc.encode(s).subarray(0, len), off);
  const octal = (off: number, len: number, n: number) => put(off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  put(0, 100, name);
  octal(100, 8, type === '5' ? 0o755 : 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 1700000000);
  h.fill(0x20, 148, 156);
  put(156, 1, type);
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i]!;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** Builds the tar, pausing now and then so that an extension host running it stays responsive. */
export async function bigTar(files: number, libFiles: number): Promise<Uint8Array> {
  const dirs = Math.ceil((files - libFiles) / 10);
  const out = new Uint8Array((4 + dirs + files * 2) * 512 + 1024);
  let o = 0;
  const add = (b: Uint8Array) => {
    out.set(b, o);
    o += 512;
  };
  const body = new Uint8Array(512);
  body.set(enc.encode('hello world\n'));
  let made = 0;
  const file = async (name: string) => {
    add(header(name, '0', 12));
    add(body);
    if (++made % 2000 === 0) await new Promise((r) => setTimeout(r, 0));
  };
  for (const d of ['usr/', 'usr/lib/', 'usr/share/', 'usr/share/doc/']) add(header(d, '5', 0));
  for (let i = 0; i < libFiles; i++) await file(`usr/lib/lib${i}.so.1`);
  for (let i = 0; i < files - libFiles; i++) {
    if (i % 10 === 0) add(header(`usr/share/doc/pkg${i / 10}/`, '5', 0));
    await file(`usr/share/doc/pkg${Math.floor(i / 10)}/file${i % 10}`);
  }
  return out; // ends with the two zero blocks of the end-of-archive marker
}
