#!/usr/bin/python3
"""Golden spectrograms for test/spectrogram.test.ts, computed with scipy as SPEC §3 defines them.

Run with Debian's python (python3-scipy, python3-soundfile):  /usr/bin/python3 scripts/golden_spectrogram.py

Writes test/golden/spectrogram/<case>.json (parameters, geometry, peak) and <case>.f32 (little-endian
float32, [bins][columns] for the frame indices listed in the JSON). The synthetic input signal is written
too (synthetic.f32), so the TypeScript tests feed the engine the very same samples.
"""
import json
import math
import os

import numpy as np
import scipy.signal as sig
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "spectrogram")
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures", "recordings")

DEFAULTS = dict(
    resample=False, samplerate=44100, low_freq=None, high_freq=None, filter_order=5,
    window_size=0.025, hop_size=0.5, window="hann", kaiser_beta=14.0,
    scale="dB", clamp=False, min_dB=-100.0, max_dB=0.0, normalize=True, channel=0,
    pcen=True, pcen_smooth=0.025, pcen_gain=0.98, pcen_bias=2.0, pcen_power=0.5, pcen_eps=1e-6,
)


def reference(x, fs, p):
    """SPEC §3 steps 3–9 in float64; returns ([bins, frames] array, hop, nperseg, fs)."""
    x = np.asarray(x, dtype=np.float64)
    if p["resample"] and p["samplerate"] != fs:                       # §3.3
        g = math.gcd(int(p["samplerate"]), int(fs))
        x = sig.resample_poly(x, int(p["samplerate"]) // g, int(fs) // g)
        fs = p["samplerate"]
    lo, hi = p["low_freq"], p["high_freq"]                            # §3.4
    if lo is not None or hi is not None:
        if lo is not None and hi is not None:
            band, btype = [lo, hi], "bandpass"
        elif lo is not None:
            band, btype = lo, "highpass"
        else:
            band, btype = hi, "lowpass"
        sos = sig.butter(p["filter_order"], band, btype, output="sos", fs=fs)
        x = sig.sosfiltfilt(sos, x)
    nperseg = int(p["window_size"] * fs)                              # §3.5
    noverlap = int((p["window_size"] - p["hop_size"] * p["window_size"]) * fs)
    window = ("kaiser", p["kaiser_beta"]) if p["window"] == "kaiser" else p["window"]
    win = sig.get_window(window, nperseg)
    _, _, Z = sig.stft(x, fs, window=win, nperseg=nperseg, noverlap=noverlap, nfft=nperseg,
                       detrend=False, return_onesided=True, boundary="zeros", padded=True,
                       scaling="psd")
    S = np.abs(Z) ** 2
    if p["pcen"]:                                                     # §3.6
        s, gain, bias, power, eps = (p[k] for k in ("pcen_smooth", "pcen_gain", "pcen_bias",
                                                     "pcen_power", "pcen_eps"))
        M = np.empty_like(S)
        m = S[:, 0].copy()
        for t in range(S.shape[1]):
            m = (1 - s) * m + s * S[:, t]
            M[:, t] = m
        S = bias ** power * np.expm1(power * np.log1p(S * (eps + M) ** (-gain) / bias))
    if p["normalize"]:                                                # §3.7
        S = S / S.max()
    if p["scale"] == "amplitude":                                     # §3.8
        S = np.sqrt(S)
    elif p["scale"] == "dB":
        S = 10 * np.log10(np.maximum(S, 1e-10))
        if p["clamp"]:                                                # §3.9
            S = np.clip(S, p["min_dB"], p["max_dB"])
    return S, nperseg - noverlap, nperseg, fs


def columns_to_keep(frames, bins, spread):
    """All frames of small outputs; otherwise `spread` frames over the recording plus both ends."""
    if frames * bins <= 20_000:
        return list(range(frames))
    picks = [round(i * (frames - 1) / (spread - 1)) for i in range(spread)]
    return sorted(set([0, 1, frames - 2, frames - 1] + picks))


def write_case(name, source, fs_file, x, overrides, time_expansion=1.0, spread=None):
    p = dict(DEFAULTS, **overrides)
    S, hop, nperseg, fs = reference(x, fs_file * time_expansion, p)
    cols = columns_to_keep(S.shape[1], S.shape[0], spread or (12 if source.endswith('.f32') else 6))
    np.ascontiguousarray(S[:, cols], dtype="<f4").tofile(os.path.join(OUT, name + ".f32"))
    meta = dict(source=source, time_expansion=time_expansion, params=overrides, bins=S.shape[0],
                frames=S.shape[1], hop=hop, nperseg=nperseg, samplerate=fs, columns=cols,
                max=float(S.max()))
    with open(os.path.join(OUT, name + ".json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {S.shape[0]} bins x {S.shape[1]} frames, kept {len(cols)} columns")


def synthetic_signal(fs=48000, seconds=0.75):
    """A bat-like downward sweep, a steady tone, a click and low noise; deterministic."""
    t = np.arange(int(fs * seconds)) / fs
    sweep = 0.5 * sig.chirp(t, f0=20000, t1=seconds, f1=4000, method="logarithmic")
    tone = 0.2 * np.sin(2 * np.pi * 1500 * t) * (t > 0.2)
    click = np.zeros_like(t)
    click[int(0.4 * fs):int(0.4 * fs) + 8] = 0.9
    noise = 0.01 * np.random.default_rng(7).standard_normal(t.size)
    return (sweep + tone + click + noise).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    fs = 48000
    x = synthetic_signal(fs)
    x.astype("<f4").tofile(os.path.join(OUT, "synthetic.f32"))
    synthetic_cases = {
        "syn-defaults": {},
        "syn-nopcen": dict(pcen=False),
        "syn-power-raw": dict(pcen=False, normalize=False, scale="power"),
        "syn-amplitude": dict(pcen=False, scale="amplitude"),
        "syn-pcen-amplitude-raw": dict(scale="amplitude", normalize=False),
        "syn-clamp": dict(pcen=False, clamp=True, min_dB=-80, max_dB=-10),
        "syn-kaiser": dict(pcen=False, window="kaiser", kaiser_beta=8, window_size=0.01, hop_size=0.25),
        "syn-odd-blackmanharris": dict(window="blackmanharris", window_size=0.0105, hop_size=0.3),
        "syn-flattop-hop1": dict(pcen=False, window="flattop", hop_size=1.0),
        "syn-pcen-tuned": dict(pcen_smooth=0.1, pcen_gain=0.8, pcen_bias=10, pcen_power=0.25, pcen_eps=1e-9),
        "syn-highpass": dict(pcen=False, low_freq=3000),
        "syn-lowpass": dict(pcen=False, high_freq=9000, filter_order=3),
        "syn-bandpass": dict(low_freq=2000, high_freq=12000, filter_order=4),
        "syn-resample-down": dict(pcen=False, resample=True, samplerate=22050),
        "syn-resample-up-filter": dict(resample=True, samplerate=96000, low_freq=1000, filter_order=2),
    }
    for name, overrides in synthetic_cases.items():
        write_case(name, "synthetic.f32", fs, x, overrides)

    recordings = {
        "XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav": "carollia",
        "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav": "lasiurus",
        "whombat_tests_bats.wav": "whombat-bats",
        "batdetect2_20230322_172000_selec2.wav": "bd2-selec2",
        "batdetect2_contrib_Audiomoth.wav": "bd2-audiomoth",
        "batdetect2_contrib_jeff37_0166_20240531_223911.wav": "bd2-jeff37",
    }
    for file, short in recordings.items():
        data, rate = sf.read(os.path.join(FIXTURES, file), dtype="float32", always_2d=True)
        mono = data[:, 0]
        write_case(f"rec-{short}-defaults", file, rate, mono, {})
        write_case(f"rec-{short}-nopcen", file, rate, mono, dict(pcen=False))
    # The stereo file's second channel, and time expansion (a 10x recording viewed in real units).
    data, rate = sf.read(os.path.join(FIXTURES, "whombat_tests_bats.wav"), dtype="float32", always_2d=True)
    write_case("rec-whombat-bats-ch1", "whombat_tests_bats.wav", rate, data[:, 1], dict(channel=1, pcen=False))
    # Resampling and PCEN on a real recording, with columns spread finely enough that a piece can
    # start past the first PCEN checkpoint (frame 1024) and be checked against scipy there.
    write_case("rec-whombat-bats-resampled", "whombat_tests_bats.wav", rate, data[:, 0],
               dict(resample=True, samplerate=48000, window_size=0.01), spread=16)
    data, rate = sf.read(os.path.join(FIXTURES, "batdetect2_20230322_172000_selec2.wav"), dtype="float32", always_2d=True)
    write_case("rec-bd2-selec2-te10", "batdetect2_20230322_172000_selec2.wav", rate, data[:, 0],
               dict(pcen=False, window_size=0.0025), time_expansion=10.0)
    write_case("rec-lasiurus-filtered", "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav",
               500000, sf.read(os.path.join(FIXTURES, "XC821988-Lasiurus_blossevillii-2016.02.17-CL01712.wav"),
                               dtype="float32")[0], dict(low_freq=15000, high_freq=120000, window_size=0.002))


if __name__ == "__main__":
    main()
