#!/usr/bin/python3
"""Golden decodes for test/audio-formats.test.ts: what libsndfile (python3-soundfile) reads from every
fixture in ../shared/fixtures/{formats,recordings}.

Run with Debian's python:  /usr/bin/python3 scripts/golden_audio.py

Writes test/golden/audio/digests.json with, per file: samplerate, channels, frames, format/subtype, and
per channel the float32 samples at fixed positions (the first and last 16 frames and 256 evenly spaced
ones) plus the float64 sum and sum of squares of the whole channel. Lossy codecs (MP3, Vorbis, Opus)
depend on the decoder, so for them the whole float32 signal is stored too (<name>.f32, little-endian,
channel-interleaved, 1 s at 16 kHz each) to compare by correlation.
"""
import glob
import json
import os

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures")
OUT = os.path.join(ROOT, "test", "golden", "audio")
LOSSY = {"MP3", "OGG"}


def positions(frames):
    """Frame indices the digest samples: both ends and an even spread (deduplicated, sorted)."""
    idx = set(range(min(16, frames))) | set(range(max(0, frames - 16), frames))
    idx |= {int(i) for i in np.linspace(0, frames - 1, 256)} if frames else set()
    return sorted(idx)


def main():
    os.makedirs(OUT, exist_ok=True)
    digests = {}
    files = sorted(glob.glob(os.path.join(FIXTURES, "formats", "*"))) + sorted(
        glob.glob(os.path.join(FIXTURES, "recordings", "*.wav")))
    for path in files:
        if os.path.basename(path).startswith("LICENSE"):
            continue
        info = sf.info(path)
        x, fs = sf.read(path, dtype="float32", always_2d=True)
        rel = os.path.relpath(path, FIXTURES)
        pos = positions(x.shape[0])
        entry = {
            "samplerate": fs,
            "channels": x.shape[1],
            "frames": x.shape[0],
            "format": info.format,
            "subtype": info.subtype,
            "positions": pos,
            "values": [[float(v) for v in x[pos, c]] for c in range(x.shape[1])],
            "sum": [float(np.sum(x[:, c], dtype=np.float64)) for c in range(x.shape[1])],
            "sumsq": [float(np.sum(x[:, c].astype(np.float64) ** 2)) for c in range(x.shape[1])],
        }
        if info.format in LOSSY:
            name = os.path.basename(path) + ".f32"
            x.astype("<f4").tofile(os.path.join(OUT, name))
            entry["signal"] = name
        digests[rel] = entry
    with open(os.path.join(OUT, "digests.json"), "w") as f:
        json.dump(digests, f, separators=(",", ":"))
    print(f"{len(digests)} files -> {OUT}")


if __name__ == "__main__":
    main()
