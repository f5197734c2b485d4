"""Draw the app icons (PNG) with the standard library: a ring of care around a dot.

Run once when the design changes: `python scripts/make_icons.py`. The PNGs are
committed; the portal serves them with versioned names.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

TEAL = (11, 94, 85)
WHITE = (255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "static" / "icons"


def _png(size: int, pixel) -> bytes:
    rows = bytearray()
    for y in range(size):
        rows.append(0)  # filter type: none
        for x in range(size):
            rows.extend(pixel(x, y))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


def icon(size: int, safe_zone: float) -> bytes:
    """A white ring and dot on teal; `safe_zone` shrinks the mark for maskable icons."""
    centre = (size - 1) / 2
    outer, inner, dot = (r * size * safe_zone for r in (0.36, 0.26, 0.11))

    def pixel(x: int, y: int):
        d = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
        return WHITE if inner <= d <= outer or d <= dot else TEAL

    return _png(size, pixel)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icon-192.png").write_bytes(icon(192, 1.0))
    (OUT / "icon-512.png").write_bytes(icon(512, 1.0))
    (OUT / "icon-maskable-512.png").write_bytes(icon(512, 0.8))


if __name__ == "__main__":
    main()
