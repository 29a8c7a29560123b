#!/usr/bin/python3
"""Golden for test/audio-compressed.test.ts: what libsndfile (python3-soundfile) reads from the Opus
fixture with an OpusHead "Output Gain" (RFC 7845 §5.1: bytes 16-17, Q7.8 dB) set to +6 dB, -6 dB
and -30 dB (1536, -1536 and -7680): libsndfile has libopus apply it (OPUS_SET_GAIN), 10^(g/(20·256)).

Run with Debian's python:  /usr/bin/python3 scripts/golden_opus_gain.py

The gained files are built from ../shared/fixtures/formats/ogg_opus.ogg as the test builds them (the
gain written, the first page's CRC fixed) in a temporary directory; only their digests are written,
to test/golden/audio/opus_gain.json: frames, the peak |sample| and 256 samples at evenly spaced
positions (the decode is lossy: the test compares within the decoders' rounding).
"""
import json
import os
import struct
import tempfile

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "formats", "ogg_opus.ogg")
OUT = os.path.join(ROOT, "test", "golden", "audio", "opus_gain.json")
GAINS = [1536, -1536, -7680]


def crc_table():
    table = []
    for i in range(256):
        r = i << 24
        for _ in range(8):
            r = ((r << 1) ^ 0x04C11DB7) & 0xFFFFFFFF if r & 0x80000000 else (r << 1) & 0xFFFFFFFF
        table.append(r)
    return table


def fix_crc(b, at, table=crc_table()):
    """The Ogg page CRC (RFC 3533) of the page at `at`, written into it."""
    n = b[at + 26]
    length = 27 + n + sum(b[at + 27:at + 27 + n])
    b[at + 22:at + 26] = b"\0" * 4
    c = 0
    for x in b[at:at + length]:
        c = ((c << 8) & 0xFFFFFFFF) ^ table[((c >> 24) & 0xFF) ^ x]
    struct.pack_into("<I", b, at + 22, c)


def with_gain(original, gain):
    """The fixture with OpusHead's Output Gain `gain` (the first packet of the first page)."""
    b = bytearray(original)
    head = 27 + b[26]
    assert b[head:head + 8] == b"OpusHead"
    struct.pack_into("<h", b, head + 16, gain)
    fix_crc(b, 0)
    return bytes(b)


def main():
    original = open(FIXTURE, "rb").read()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for gain in GAINS:
            path = os.path.join(tmp, f"gain{gain}.ogg")
            open(path, "wb").write(with_gain(original, gain))
            x, _ = sf.read(path, dtype="float32", always_2d=True)
            x = x[:, 0]
            pos = [int(i) for i in np.linspace(0, len(x) - 1, 256)]
            out[str(gain)] = {"frames": len(x), "peak": float(f"{np.abs(x).max():.8g}"), "positions": pos, "values": [float(f"{x[i]:.8g}") for i in pos]}
    with open(OUT, "w") as f:
        json.dump(out, f)
        f.write("\n")


if __name__ == "__main__":
    main()
