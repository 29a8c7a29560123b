#!/usr/bin/python3
"""A FLAC whose last frame's audio holds bytes that parse as a frame header, for test/audio-safety.test.ts.

Run with Debian's python:  /usr/bin/python3 scripts/golden_flac_false_sync.py

Full-scale 16-bit noise (libFLAC stores it verbatim), 4 blocks of 4096 frames at 44.1 kHz, with three
samples of the last block spelling a frame header whose CRC-8 passes (0xFFF8 C908 00 + CRC). Finding
the stream's end from the back, a reader meets that "false sync" before the real last frame's header;
libsndfile reads all 16384 frames. Writes test/golden/audio/false_sync.flac (~33 KB) and
false_sync.json: what soundfile reads (frames, and per channel the float32 samples at fixed
positions, their float64 sum and sum of squares), in the format of golden_audio.py's digests.
"""
import json
import os

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "audio")


def crc8(data):
    """FLAC's frame-header CRC-8 (polynomial x^8 + x^2 + x + 1)."""
    c = 0
    for v in data:
        c ^= v
        for _ in range(8):
            c = ((c << 1) ^ 0x07) & 0xFF if c & 0x80 else (c << 1) & 0xFF
    return c


def main():
    n = 4 * 4096
    x = np.random.default_rng(7).integers(-32768, 32768, n).astype(np.int16)
    header = [0xFF, 0xF8, 0xC9, 0x08, 0x00]
    header.append(crc8(header))
    words = [(header[0] << 8) | header[1], (header[2] << 8) | header[3], (header[4] << 8) | header[5]]
    k = n - 2000  # inside the last block; big-endian in the verbatim subframe, as the header reads
    for j, w in enumerate(words):
        x[k + j] = np.uint16(w).view(np.int16)
    path = os.path.join(OUT, "false_sync.flac")
    sf.write(path, x, 44100, subtype="PCM_16")
    assert open(path, "rb").read().find(bytes(header)) > 0, "the header pattern is not in the file"
    y, fs = sf.read(path, dtype="float32", always_2d=True)
    assert y.shape[0] == n
    pos = sorted(set(range(16)) | set(range(n - 16, n)) | {int(i) for i in np.linspace(0, n - 1, 256)})
    entry = {
        "samplerate": fs, "channels": 1, "frames": n, "positions": pos,
        "values": [[float(v) for v in y[pos, 0]]],
        "sum": [float(np.sum(y[:, 0], dtype=np.float64))],
        "sumsq": [float(np.sum(y[:, 0].astype(np.float64) ** 2))],
    }
    with open(os.path.join(OUT, "false_sync.json"), "w") as f:
        json.dump(entry, f, separators=(",", ":"))
    print(f"{path}: {os.path.getsize(path)} bytes, {n} frames")


if __name__ == "__main__":
    main()
