"""Golden data for test/resample.test.ts: scipy.signal.resample_poly(x, up, down) with up/down
the reduced ratio of the rates (SPEC §3.3), default window ("kaiser", 5.0), padtype "constant".

Run with Debian's python (python3-scipy):  /usr/bin/python3 scripts/golden_resample.py
Writes test/golden/resample.json and per case resample-<name>-in.f32 / -out.f32. The input is
float32; the reference runs in float64 (x.astype(float64)) so that it is free of scipy's own
float32 rounding — the engine is measured against the exact result.
"""
import json
import math
import os

import numpy as np
import scipy
import scipy.signal as sig

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "golden")

CASES = [
    # name, fs_in, fs_out, input samples
    ("384k-44k", 384000, 44100, 40000),
    ("48k-44k", 48000, 44100, 6000),
    ("22k-44k", 22050, 44100, 3000),
    ("250k-96k", 250000, 96000, 8000),
    ("44k-48k", 44100, 48000, 6000),
    ("96k-32k", 96000, 32000, 5000),
    ("8k-44k", 8000, 44100, 1500),
]


def signal(fs, n):
    """Noise, a tone below and one above the target Nyquist, a DC step at the start."""
    rng = np.random.default_rng(n)
    t = np.arange(n) / fs
    x = 0.3 * rng.standard_normal(n) + 0.5 * np.sin(2 * np.pi * 3000 * t) \
        + 0.3 * np.sin(2 * np.pi * 0.45 * fs * t) + 0.25
    return x.astype(np.float32)


cases = []
for name, fs_in, fs_out, n in CASES:
    g = math.gcd(fs_out, fs_in)
    up, down = fs_out // g, fs_in // g
    x = signal(fs_in, n)
    y = sig.resample_poly(x.astype(np.float64), up, down)
    x.astype("<f4").tofile(os.path.join(OUT, f"resample-{name}-in.f32"))
    y.astype("<f4").tofile(os.path.join(OUT, f"resample-{name}-out.f32"))
    cases.append(dict(name=name, fs_in=fs_in, fs_out=fs_out, up=up, down=down, n_in=n, n_out=len(y),
                      input=f"resample-{name}-in.f32", output=f"resample-{name}-out.f32"))

with open(os.path.join(OUT, "resample.json"), "w") as f:
    json.dump(dict(scipy=scipy.__version__, cases=cases), f, indent=1)
print(f"wrote {len(cases)} resample cases to {OUT}")
