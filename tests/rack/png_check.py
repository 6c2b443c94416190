#!/usr/bin/env python3
"""png_check.py WIDTH HEIGHT FILE...: each FILE is a PNG of WIDTH x HEIGHT pixels (within 2 px)
that is not blank: at least 2 % of its pixels differ from its most common colour, and it has at
least 16 colours.
png_check.py --differ A B: A and B have the same size and differ in at least 0.2 % of their
pixels (the panel drawn with a module is not the module == NULL drawing).
Pure Python (zlib), no PIL. Prints the figures; exits 1 on any failure."""
import struct
import sys
import zlib
from collections import Counter


def decode(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace:
        raise ValueError("unsupported PNG (depth %d, colour type %d, interlace %d)" % (depth, ctype, interlace))
    raw = zlib.decompress(idat)
    stride = w * channels
    rows, prev, i = [], bytearray(stride), 0
    for _ in range(h):
        f = raw[i]
        line = bytearray(raw[i + 1:i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + ((a + b) >> 1)) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return w, h, channels, rows


def differ(a, b):
    wa, ha, ca, ra = decode(a)
    wb, hb, cb, rb = decode(b)
    if (wa, ha, ca) != (wb, hb, cb):
        print("png_check: FAIL %s and %s differ in size or format" % (a, b))
        return 1
    n = sum(1 for x, y in zip(ra, rb) for i in range(0, len(x), ca) if x[i:i + ca] != y[i:i + ca])
    frac = n / (wa * ha)
    ok = frac >= 0.002
    print("png_check: %s %s vs %s: %d pixels (%.2f %%) differ (want at least 0.2 %%)" % ("ok  " if ok else "FAIL", a, b, n, 100 * frac))
    return 0 if ok else 1


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--differ":
        return differ(sys.argv[2], sys.argv[3])
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    want_w, want_h = int(sys.argv[1]), int(sys.argv[2])
    fail = 0
    for path in sys.argv[3:]:
        try:
            w, h, ch, rows = decode(path)
        except (OSError, ValueError, TypeError, zlib.error) as e:
            print("png_check: FAIL %s: %s" % (path, e))
            fail = 1
            continue
        px = Counter(r[x:x + ch] for r in rows for x in range(0, len(r), ch))
        top, n = px.most_common(1)[0]
        other = 1 - n / (w * h)
        ok = abs(w - want_w) <= 2 and abs(h - want_h) <= 2 and other >= 0.02 and len(px) >= 16
        print("png_check: %s %s: %dx%d (want %dx%d), %d colours, %.1f %% of pixels differ from the most common one"
              % ("ok  " if ok else "FAIL", path, w, h, want_w, want_h, len(px), 100 * other))
        fail |= not ok
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())
