#!/usr/bin/python3
"""scipy peer of `npm run bench` (SPEC §9, issue 7): the STFT power pipeline as a Python user
writes it — scipy.signal.stft with sonotile's reference arguments (SPEC §3.5), then |Z|².

scipy allocates its frames, spectrum and result arrays inside every call; that is how it is used,
so it is timed as it is (unlike the other peers, which write into a buffer allocated once).
One untimed warm-up call precedes the timed ones.

Usage: /usr/bin/python3 scripts/stft_scipy_bench.py SIGNAL.f32 SAMPLERATE NPERSEG HOP REPEATS
Prints one JSON line: {"frames", "bins", "times_s", "stft_times_s", "checksum", "scipy"}.
"""
import json
import sys
import time

import numpy as np
import scipy
import scipy.signal


def stft_power(x, fs, nperseg, hop):
    """Power spectrogram [bins][frames]; also returns the seconds spent inside scipy.signal.stft."""
    t0 = time.perf_counter()
    _, _, z = scipy.signal.stft(x, fs, window="hann", nperseg=nperseg, noverlap=nperseg - hop,
                                nfft=nperseg, detrend=False, return_onesided=True,
                                boundary="zeros", padded=True, scaling="psd")
    t1 = time.perf_counter()
    return np.abs(z) ** 2, t1 - t0


def bin_weighted_sum(power):
    """sum_k (k+1) * sum_i S[k][i], as checksum() in bench/lib/pipelines.ts (catches misplaced bins)."""
    rows = power.sum(axis=1, dtype=np.float64)
    return float((rows * np.arange(1, len(rows) + 1)).sum())


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: stft_scipy_bench.py SIGNAL.f32 SAMPLERATE NPERSEG HOP REPEATS")
    path, fs, nperseg, hop, repeats = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    x = np.fromfile(path, dtype="<f4")
    power, _ = stft_power(x, fs, nperseg, hop)  # warm-up
    times, stft_times = [], []
    for _ in range(repeats):
        del power  # let the allocator reuse the previous result's memory, as a loop over files would
        t0 = time.perf_counter()
        power, inner = stft_power(x, fs, nperseg, hop)
        times.append(time.perf_counter() - t0)
        stft_times.append(inner)
    print(json.dumps({"frames": power.shape[1], "bins": power.shape[0], "times_s": times,
                      "stft_times_s": stft_times, "checksum": bin_weighted_sum(power),
                      "scipy": scipy.__version__}))


if __name__ == "__main__":
    main()
