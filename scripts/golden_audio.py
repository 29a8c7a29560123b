#!/usr/bin/python3
"""Golden decodes for test/audio-formats.test.ts: what libsndfile (python3-soundfile) reads from every
fixture in ../shared/fixtures/{formats,recordings}.

Run with Debian's python:  /usr/bin/python3 scripts/golden_audio.py

Writes test/golden/audio/digests.json with, per file: samplerate, channels, frames, format/subtype, and
per channel the float32 samples at fixed positions (the first and last 16 frames and 256 evenly spaced
ones) plus the float64 sum and sum of squares of the whole channel. Lossy codecs (MP3, Vorbis, Opus)
depend on the decoder, so for them the whole float32 signal is stored too (<name>.f32, little-endian,
channel-interleaved, 1 s at 16 kHz each) to compare by correlation.

The fixtures are too short to exercise seeking in Ogg (a seek needs more than a page or two of
audio), so this script also synthesises two small Ogg files (6 s of a 8 kHz stereo chirp, Vorbis and
Opus, 10-30 KB) as test inputs: test/golden/audio/seek_{vorbis,opus}.ogg, with their digests
(no whole-signal .f32 for these), and two longer ones written as a recorder would, in one piece
(6 s of 48 kHz stereo: a rising chirp in noise, and a slowly modulated tone; Vorbis and Opus, pages of
~0.15 s and of 1 s): test/golden/audio/seek_long_{vorbis,opus}.ogg — a seek there bisects over many
pages, and a stereo Opus decoder started 80 ms before a page boundary has not converged (2e-2 off)
when it gets there. Likewise test/golden/audio/seek_mp3.mp3: 0.4 s of 44.1 kHz stereo
at LAME's lowest VBR quality (MPEG-1 Layer III, ~3 KB, Xing and LAME tags), whose frames lean on the
bit reservoir (main_data_begin up to ~510 bytes): the MPEG-2 fixture covers the other MPEG version,
and test/audio-mp3seek.test.ts repeats the frames of both into longer streams.
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


def synthesise_ogg():
    """Writes the synthetic Ogg seek-test inputs (deterministic signal; encoder output as libsndfile gives it)."""
    fs = 8000
    t = np.arange(6 * fs) / fs
    left = 0.5 * np.sin(2 * np.pi * (300 * t + 150 * t ** 2))
    right = 0.3 * np.sin(2 * np.pi * 1000 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    x = np.stack([left, right], axis=1).astype(np.float32)
    paths = []
    for name, subtype in [("seek_vorbis.ogg", "VORBIS"), ("seek_opus.ogg", "OPUS")]:
        path = os.path.join(OUT, name)
        # Written in pieces: libsndfile's Vorbis encoder crashes on very large single writes.
        with sf.SoundFile(path, "w", fs, 2, format="OGG", subtype=subtype) as f:
            for i in range(0, len(x), 4000):
                f.write(x[i:i + 4000])
        paths.append(path)
    paths.append(synthesise_mp3())
    return paths


def synthesise_long_ogg():
    """Writes the long Ogg seek-test inputs, each in one write (libsndfile's page sizes for it)."""
    fs = 48000
    t = np.arange(6 * fs) / fs
    rng = np.random.default_rng(7)
    left = 0.4 * np.sin(2 * np.pi * (1000 + 200 * t) * t) + 0.05 * rng.standard_normal(t.size)
    right = 0.3 * np.sin(2 * np.pi * 3000 * t) * np.sin(2 * np.pi * 0.5 * t)
    x = np.stack([left, right], axis=1).astype(np.float32)
    paths = []
    for name, subtype in [("seek_long_vorbis.ogg", "VORBIS"), ("seek_long_opus.ogg", "OPUS")]:
        path = os.path.join(OUT, name)
        sf.write(path, x, fs, format="OGG", subtype=subtype)
        paths.append(path)
    return paths


# libsndfile's sf_command code (sndfile.h), not exposed by python3-soundfile 0.12.
SFC_SET_COMPRESSION_LEVEL = 0x1301


def synthesise_mp3():
    """Writes the MP3 seek-test seed: a chirp and a gated tone (deterministic; LAME through libsndfile)."""
    fs = 44100
    t = np.arange(int(0.4 * fs)) / fs
    left = 0.5 * np.sin(2 * np.pi * (300 * t + 3000 * t ** 2)) * (0.6 + 0.4 * np.sin(2 * np.pi * 5 * t))
    right = 0.3 * np.sin(2 * np.pi * 1000 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) \
        + 0.2 * np.sign(np.sin(2 * np.pi * 7 * t)) * np.sin(2 * np.pi * 4000 * t)
    path = os.path.join(OUT, "seek_mp3.mp3")
    with sf.SoundFile(path, "w", fs, 2, format="MP3", subtype="MPEG_LAYER_III") as f:
        # Variable bitrate (libsndfile's default) at the lowest quality: small frames, deep reservoir use.
        level = sf._ffi.new("double*", 1.0)
        sf._snd.sf_command(f._file, SFC_SET_COMPRESSION_LEVEL, level, sf._ffi.sizeof("double"))
        f.write(np.stack([left, right], axis=1).astype(np.float32))
    return path


def main():
    os.makedirs(OUT, exist_ok=True)
    synthetic = synthesise_ogg() + synthesise_long_ogg()
    digests = {}
    files = sorted(glob.glob(os.path.join(FIXTURES, "formats", "*"))) + sorted(
        glob.glob(os.path.join(FIXTURES, "recordings", "*.wav"))) + synthetic
    for path in files:
        if os.path.basename(path).startswith("LICENSE"):
            continue
        info = sf.info(path)
        x, fs = sf.read(path, dtype="float32", always_2d=True)
        rel = os.path.basename(path) if path in synthetic else os.path.relpath(path, FIXTURES)
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
        if info.format in LOSSY and path not in synthetic:
            name = os.path.basename(path) + ".f32"
            x.astype("<f4").tofile(os.path.join(OUT, name))  # interleaved [frames, channels]
            entry["signal"] = name
        digests[rel] = entry
    with open(os.path.join(OUT, "digests.json"), "w") as f:
        json.dump(digests, f, separators=(",", ":"))
    print(f"{len(digests)} files -> {OUT}")


if __name__ == "__main__":
    main()
