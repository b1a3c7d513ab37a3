#!/usr/bin/env python3
"""Draws certdrop-receiver.ico: a blue rounded square with a white arrow down onto a tray.

The icon is drawn here rather than by hand so that anyone can change it and regenerate it:

    python3 receiver-stub/resources/make-icon.py receiver-stub/resources/certdrop-receiver.ico

The output is deterministic. Sizes 16, 24, 32 and 48 are 32-bit BMP images (what every
Windows version reads); 256 is a PNG image (what Explorer uses for large icons).
"""

import struct
import sys
import zlib

BLUE = (0x1F, 0x5F, 0xB8)
WHITE = (0xFF, 0xFF, 0xFF)
BMP_SIZES = (16, 24, 32, 48)
PNG_SIZE = 256
SUBSAMPLES = 4


def in_rounded_square(x, y):
    low, high, radius = 0.03, 0.97, 0.18
    cx = min(max(x, low + radius), high - radius)
    cy = min(max(y, low + radius), high - radius)
    return low <= x <= high and low <= y <= high and (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def in_arrow(x, y):
    shaft = 0.41 <= x <= 0.59 and 0.16 <= y <= 0.50
    # The head: a triangle from the line y = 0.46 (x 0.22..0.78) down to its tip (0.5, 0.72).
    half_width = 0.28 * (0.72 - y) / (0.72 - 0.46)
    head = 0.46 <= y <= 0.72 and abs(x - 0.5) <= half_width
    tray = 0.20 <= x <= 0.80 and 0.79 <= y <= 0.87
    return shaft or head or tray


def pixel(size, px, py):
    """Red, green, blue and alpha of one pixel, averaged over SUBSAMPLES² points."""
    inside = white = 0
    for sy in range(SUBSAMPLES):
        for sx in range(SUBSAMPLES):
            x = (px + (sx + 0.5) / SUBSAMPLES) / size
            y = (py + (sy + 0.5) / SUBSAMPLES) / size
            if in_rounded_square(x, y):
                inside += 1
                white += in_arrow(x, y)
    if inside == 0:
        return (0, 0, 0, 0)
    mix = white / inside
    rgb = tuple(round(b + (w - b) * mix) for b, w in zip(BLUE, WHITE))
    return rgb + (round(255 * inside / SUBSAMPLES**2),)


def rows(size):
    """The image's rows, top first, each a list of (r, g, b, a)."""
    return [[pixel(size, x, y) for x in range(size)] for y in range(size)]


def bmp_image(size):
    """BITMAPINFOHEADER, bottom-up BGRA pixels, then the 1-bit AND mask (set = transparent)."""
    image = rows(size)
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, 0, 0, 0, 0, 0)
    pixels = b"".join(bytes((b, g, r, a)) for row in reversed(image) for r, g, b, a in row)
    mask_stride = (size + 31) // 32 * 4
    mask = bytearray()
    for row in reversed(image):
        bits = bytearray(mask_stride)
        for x, (_, _, _, a) in enumerate(row):
            if a == 0:
                bits[x // 8] |= 0x80 >> (x % 8)
        mask += bits
    return header + pixels + bytes(mask)


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_image(size):
    raw = b"".join(b"\0" + bytes(v for p in row for v in p) for row in rows(size))
    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(raw, 9))
        + png_chunk(b"IEND", b"")
    )


def ico(images):
    """ICONDIR, one ICONDIRENTRY per (size, bytes), then the images."""
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    for size, data in images:
        side = size if size < 256 else 0
        out += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    return out + b"".join(data for _, data in images)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-icon.py OUT.ico")
    images = [(size, bmp_image(size)) for size in BMP_SIZES]
    images.append((PNG_SIZE, png_image(PNG_SIZE)))
    with open(sys.argv[1], "wb") as out:
        out.write(ico(images))


if __name__ == "__main__":
    main()
