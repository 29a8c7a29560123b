#!/usr/bin/python3
"""Golden decode for test/audio-mp3seek.test.ts: what libsndfile (python3-soundfile) reads from an MP3
whose Xing frame count is above 932,067 — the count up to which a 32-bit mpg123 (such as the
WebAssembly one sonotile decodes with) trims the LAME tag's encoder delay and padding. libsndfile's
64-bit mpg123 trims at any count, so such a file is where the two could part.

Run with Debian's python:  /usr/bin/python3 scripts/golden_mp3_long.py

The file (~34 MB, 9.8 h at 16 kHz) is built here and by the test from the same recipe, never stored:
the fixture formats/mp3_mpeg_layer_iii.mp3 (MPEG-2 Layer III, 16 kHz mono; a Xing frame with a LAME
tag: delay 576, padding 704, 30 audio frames) cut into frames; its Xing frame (frame count patched to
the whole) leads; its 30 audio frames are repeated twice at the start, twice at frame DEEP (9 h in)
and twice at the end; every other frame is a silent 8 kbit/s frame (36 bytes: the fixture's header
with bitrate index 1, no padding, side info and main data all zero). Each copy of the fixture starts
with a frame whose main_data_begin is 0 and the silent frames use no reservoir, so the stream is as
valid as the fixture.

Writes test/golden/audio/mp3_long.json: the recipe's numbers, the SHA-256 of the file (the test
checks it built the same bytes), libsndfile's frame count, and three windows of WINDOW samples read
sequentially from the start: at the start, 9 h in (the fixture's copy at DEEP) and at the end — and
checks that libsndfile's own seek to the deep window reads the same samples (to 1e-6).
"""
import hashlib
import json
import os
import struct
import tempfile

import numpy as np
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(ROOT, "..", "shared", "fixtures", "formats", "mp3_mpeg_layer_iii.mp3")
OUT = os.path.join(ROOT, "test", "golden", "audio", "mp3_long.json")

TOTAL = 940_000  # audio frames: above 932,067
COPIES = 2  # copies of the fixture's audio frames at the start, at DEEP and at the end
DEEP = 900_000  # first audio frame of the deep copies (900000 × 576 / 16000 s = 9 h)
WINDOW = 1024  # samples per golden window
TRIMMED = 529 + 576  # samples trimmed at the start: mpg123's decoder delay + the LAME tag's encoder delay


def frames_of(data):
    """Cuts an MPEG-2 Layer III stream into its frames (72 × bitrate / rate + padding bytes each)."""
    bitrates = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]  # kbit/s, MPEG-2 layer III
    rates = [22050, 24000, 16000]
    frames, at = [], 0
    while at < len(data):
        b1, b2 = data[at + 1], data[at + 2]
        assert data[at] == 0xFF and (b1 >> 3) & 3 == 2 and (b1 >> 1) & 3 == 1, "MPEG-2 Layer III expected"
        size = 72 * bitrates[b2 >> 4] * 1000 // rates[(b2 >> 2) & 3] + ((b2 >> 1) & 1)
        frames.append(data[at:at + size])
        at += size
    return frames


def build():
    """The file's bytes and the first audio frame of each copy of the fixture."""
    with open(FIXTURE, "rb") as f:
        info, *audio = frames_of(f.read())
    # The Xing frame count: right after "Xing" and its 4 flag bytes (header 4 + side info 9).
    tag = 4 + 9
    assert info[tag:tag + 4] in (b"Xing", b"Info") and struct.unpack(">I", info[tag + 4:tag + 8])[0] & 1
    info = info[:tag + 8] + struct.pack(">I", TOTAL) + info[tag + 12:]
    header = bytearray(audio[0][:4])
    header[2] = (1 << 4) | (header[2] & 0x0D)  # bitrate index 1 (8 kbit/s), padding bit cleared
    silent = bytes(header) + bytes(72 * 8000 // 16000 - 4)
    run = len(audio) * COPIES
    starts = [0, DEEP, TOTAL - run]
    parts, n = [info], 0
    for s in starts:
        parts.append(silent * (s - n))
        parts.extend(audio * COPIES)
        n = s + run
    assert n == TOTAL
    return b"".join(parts), starts


def main():
    data, starts = build()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "long.mp3")
        with open(path, "wb") as f:
            f.write(data)
        frames = sf.info(path).frames
        # The deep window: half silence, half the deep copy's first frame (where gapless trimming places it).
        at = {"start": 0, "deep": DEEP * 576 - TRIMMED - WINDOW // 2, "end": frames - WINDOW}
        windows = {k: np.zeros(WINDOW, dtype=np.float32) for k in at}
        pos = 0
        with sf.SoundFile(path) as f:
            for block in f.blocks(blocksize=1 << 20, dtype="float32", always_2d=True):
                for k, a in at.items():
                    lo, hi = max(a, pos), min(a + WINDOW, pos + len(block))
                    if lo < hi:
                        windows[k][lo - a:hi - a] = block[lo - pos:hi - pos, 0]
                pos += len(block)
            assert pos == frames, (pos, frames)
            f.seek(at["deep"])
            sought = f.read(WINDOW, dtype="float32", always_2d=True)[:, 0]
        # mpg123's seek starts its synthesis at another phase: ~1e-7 apart (see src/audio/mp3seek.ts).
        assert np.abs(sought - windows["deep"]).max() < 1e-6, "libsndfile's seek disagrees with its sequential read"
    golden = {
        "recipe": {"total": TOTAL, "copies": COPIES, "starts": starts},
        "sha256": hashlib.sha256(data).hexdigest(),
        "bytes": len(data),
        "frames": frames,
        "windows": {k: {"at": a, "values": [float(v) for v in windows[k]]} for k, a in at.items()},
    }
    with open(OUT, "w") as f:
        json.dump(golden, f, separators=(",", ":"))
    print(f"{len(data)} bytes, libsndfile: {frames} frames (untrimmed {TOTAL * 576}) -> {OUT}")


if __name__ == "__main__":
    main()
