"""Golden data for test/window.test.ts: scipy.signal.get_window(name, n) (fftbins=True, periodic).

Run with Debian's python (python3-scipy):  /usr/bin/python3 scripts/golden_windows.py
Writes test/golden/windows.json: {scipy, cases: [{name, n, beta?, symmetric?, values}]}; a few
cases are the symmetric form (fftbins=False) that FIR design uses.
Values are scipy's float64 rounded to 10 significant digits (far below the 1e-6 tolerance),
which keeps the file small.
"""
import json
import os

import numpy as np
import scipy
import scipy.signal as sig

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "golden", "windows.json")
NAMES = ["boxcar", "triang", "bartlett", "flattop", "parzen", "bohman", "blackman",
         "blackmanharris", "nuttall", "barthann", "hamming", "hann", "kaiser"]
LENGTHS = [1, 2, 3, 4, 5, 7, 8, 16, 17, 64, 101, 256, 1102]
KAISER_BETAS = [0.5, 5.0, 8.0, 14.0, 40.0]


def digits(w):
    return [float(f"{v:.10g}") for v in w]


cases = []
for name in NAMES:
    for n in LENGTHS:
        if name == "kaiser":
            for beta in KAISER_BETAS:
                w = sig.get_window(("kaiser", beta), n)
                cases.append(dict(name=name, n=n, beta=beta, values=digits(w)))
        else:
            cases.append(dict(name=name, n=n, values=digits(sig.get_window(name, n))))

for name in NAMES:
    for n in [2, 7, 16, 101]:
        spec = ("kaiser", 5.0) if name == "kaiser" else name
        cases.append(dict(name=name, n=n, beta=5.0 if name == "kaiser" else None, symmetric=True,
                          values=digits(sig.get_window(spec, n, fftbins=False))))

with open(OUT, "w") as f:
    json.dump(dict(scipy=scipy.__version__, cases=cases), f, separators=(",", ":"))
print(f"wrote {len(cases)} windows to {OUT} ({os.path.getsize(OUT)} bytes)")
