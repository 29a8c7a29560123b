"""Golden data for test/filter.test.ts: scipy.signal.butter(..., output="sos", fs=fs) and
scipy.signal.sosfiltfilt on synthetic float32 signals (SPEC §3.4).

Run with Debian's python (python3-scipy):  /usr/bin/python3 scripts/golden_filter.py
Writes test/golden/filter.json (cases: design, sections, pad length, zi) and, per case, the
float32 input (filter-input-<fs>.f32, shared per rate) and output (filter-<name>.f32).
"""
import json
import os

import numpy as np
import scipy
import scipy.signal as sig

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "golden")
N = 4096

CASES = [
    # name, fs, order, btype, freqs
    ("lp-44k-o1", 44100, 1, "lowpass", [5000]),
    ("lp-44k-o2", 44100, 2, "lowpass", [5000]),
    ("lp-44k-o5", 44100, 5, "lowpass", [5000]),
    ("lp-44k-o16", 44100, 16, "lowpass", [5000]),
    ("hp-44k-o1", 44100, 1, "highpass", [1000]),
    ("hp-44k-o2", 44100, 2, "highpass", [1000]),
    ("hp-44k-o5", 44100, 5, "highpass", [1000]),
    ("hp-44k-o16", 44100, 16, "highpass", [1000]),
    ("bp-44k-o1", 44100, 1, "bandpass", [500, 8000]),
    ("bp-44k-o2", 44100, 2, "bandpass", [500, 8000]),
    ("bp-44k-o3", 44100, 3, "bandpass", [500, 8000]),
    ("bp-44k-o5", 44100, 5, "bandpass", [500, 8000]),
    ("bp-44k-o16", 44100, 16, "bandpass", [500, 8000]),
    ("lp-250k-o3", 250000, 3, "lowpass", [120000]),
    ("hp-250k-o5", 250000, 5, "highpass", [15000]),
    ("bp-250k-o16", 250000, 16, "bandpass", [20000, 100000]),
    ("bp-384k-o5", 384000, 5, "bandpass", [15000, 120000]),
    ("bp-384k-o7-narrow", 384000, 7, "bandpass", [40000, 42000]),
    ("hp-384k-o2", 384000, 2, "highpass", [500]),
    ("lp-384k-o4", 384000, 4, "lowpass", [1000]),
    # Just below Nyquist: the bilinear gain divides products of ~1e214 (its |b|² overflows float64).
    ("bp-192k-o16-nyquist", 192000, 16, "bandpass", [95990, 95999.9]),
    # A 10 Hz band: its poles' distance from the unit circle comes from the small real part of a
    # complex square root of a nearly negative real number (lp2bp).
    ("bp-192k-o16-10hz", 192000, 16, "bandpass", [50000, 50010]),
]


def signal(fs):
    """Noise, two tones and a DC offset — everything a band filter treats differently."""
    rng = np.random.default_rng(fs)
    t = np.arange(N) / fs
    x = 0.3 * rng.standard_normal(N) + 0.5 * np.sin(2 * np.pi * 0.011 * fs * t) \
        + 0.4 * np.sin(2 * np.pi * 0.17 * fs * t + 1) + 0.2
    return x.astype(np.float32)


cases = []
for fs in sorted({c[1] for c in CASES}):
    signal(fs).astype("<f4").tofile(os.path.join(OUT, f"filter-input-{fs}.f32"))
for name, fs, order, btype, freqs in CASES:
    x = signal(fs)
    sos = sig.butter(order, freqs if len(freqs) > 1 else freqs[0], btype, output="sos", fs=fs)
    y = sig.sosfiltfilt(sos, x)  # float32 input, float64 result, as in the reference pipeline
    y.astype("<f4").tofile(os.path.join(OUT, f"filter-{name}.f32"))
    ntaps = 2 * len(sos) + 1 - min((sos[:, 2] == 0).sum(), (sos[:, 5] == 0).sum())
    cases.append(dict(name=name, fs=fs, order=order, btype=btype, freqs=freqs, sos=sos.tolist(),
                      padlen=int(3 * ntaps), zi=sig.sosfilt_zi(sos).tolist(),
                      input=f"filter-input-{fs}.f32", output=f"filter-{name}.f32"))

with open(os.path.join(OUT, "filter.json"), "w") as f:
    json.dump(dict(scipy=scipy.__version__, length=N, cases=cases), f, indent=1)
print(f"wrote {len(cases)} filter cases to {OUT}")
