#!/usr/bin/env python3
"""Writes a tar described by a JSON spec with Python's tarfile, for the tar-index CLI tests.

usage: index-mktar.py SPEC.json OUT.tar

The spec is {"format": "gnu"|"pax"|"ustar", "members": [...]}; each member is
  {"name": str, "type": "file"|"dir"|"symlink"|"hardlink"|"char"|"block"|"fifo",
   "data": str (file content, UTF-8), "size": int (file content of that many b'x' bytes),
   "linkname": str, "mode": int, "mtime": int, "uid": int, "gid": int,
   "devmajor": int, "devminor": int, "pax": {key: value}, "rawName": bool}
"rawName" writes the name exactly as given (tarfile appends '/' to directory names).

Prints one JSON object per member on stdout, in order:
  {"name", "start" (first header block, extension headers included), "header" (the
   member's own header block), "data" (offset of its data), "end" (after its padding)}
and finally {"eof": offset of the end-of-archive marker, "size": bytes of the file}.
"""
import io
import json
import sys
import tarfile

TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
    "fifo": tarfile.FIFOTYPE,
}
FORMATS = {"gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT, "ustar": tarfile.USTAR_FORMAT}


class RawInfo(tarfile.TarInfo):
    """A TarInfo that can keep a directory's name without the trailing slash."""

    raw_name = False

    def get_info(self):
        info = super().get_info()
        if self.raw_name:
            info["name"] = self.name
        return info


def main() -> None:
    spec_path, out_path = sys.argv[1], sys.argv[2]
    with open(spec_path, encoding="utf-8") as f:
        spec = json.load(f)
    fmt = FORMATS[spec.get("format", "gnu")]
    buf = io.BytesIO()
    report = []
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for m in spec["members"]:
            ti = RawInfo(m["name"])
            ti.raw_name = bool(m.get("rawName", False))
            ti.type = TYPES[m.get("type", "file")]
            default_mode = 0o755 if ti.type == tarfile.DIRTYPE else 0o777 if ti.type == tarfile.SYMTYPE else 0o644
            ti.mode = m.get("mode", default_mode)
            ti.mtime = m.get("mtime", 1700000000)
            ti.uid = m.get("uid", 0)
            ti.gid = m.get("gid", 0)
            ti.uname = ""
            ti.gname = ""
            ti.linkname = m.get("linkname", "")
            ti.devmajor = m.get("devmajor", 0)
            ti.devminor = m.get("devminor", 0)
            if m.get("pax"):
                ti.pax_headers = dict(m["pax"])
            data = None
            if ti.type == tarfile.REGTYPE:
                if "data" in m:
                    data = m["data"].encode("utf-8")
                else:
                    data = b"x" * m.get("size", 0)
                ti.size = len(data)
            start = tf.offset
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
            end = tf.offset
            padded = (ti.size + 511) // 512 * 512 if data is not None else 0
            data_at = end - padded
            report.append({"name": m["name"], "start": start, "header": data_at - 512, "data": data_at, "end": end})
        eof = tf.offset
    raw = buf.getvalue()
    with open(out_path, "wb") as f:
        f.write(raw)
    for r in report:
        print(json.dumps(r))
    print(json.dumps({"eof": eof, "size": len(raw)}))


if __name__ == "__main__":
    main()
