#!/usr/bin/python3
"""Golden spectra for test/fft.test.ts: numpy.fft.rfft (float64) of a reproducible input.

The input is the test's LCG (Numerical Recipes' 32-bit generator, seed = n):
    state ← (1664525·state + 1013904223) mod 2³²,   x = (state >> 8) / 2²³ − 1
which is exact in float32, so the test regenerates the identical samples without storing them.
Writes test/golden/fft/rfft_<n>.f32: the n//2+1 bins as interleaved re, im (float32, LE) —
the float64 result rounded once, far below the test tolerance.
Run: /usr/bin/python3 scripts/golden_fft.py
"""
from pathlib import Path

import numpy as np

# Lengths of real recordings (SPEC §3.5) and the paths of the core they exercise:
# 1102 = 2·19·29, 7812 = 2²·3²·7·31, 9600 = 2⁷·3·5², 1369 = 37² (generic odd radix),
# 4801, 8191, 65537 (primes: Bluestein, odd path), 9602 = 2·4801 (Bluestein + even split).
SIZES = [1024, 1102, 1369, 4096, 4801, 7812, 8191, 9600, 9602, 65537]
OUT = Path(__file__).resolve().parent.parent / "test" / "golden" / "fft"


def lcg_input(n: int) -> np.ndarray:
    state = n
    x = np.empty(n, dtype=np.float64)
    for i in range(n):
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        x[i] = (state >> 8) / 2.0**23 - 1.0
    assert np.array_equal(x.astype(np.float32).astype(np.float64), x)
    return x


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for n in SIZES:
        spectrum = np.fft.rfft(lcg_input(n))
        pairs = np.empty(2 * spectrum.size, dtype="<f4")
        pairs[0::2] = spectrum.real
        pairs[1::2] = spectrum.imag
        pairs.tofile(OUT / f"rfft_{n}.f32")


if __name__ == "__main__":
    main()
