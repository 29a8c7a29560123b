#!/usr/bin/python3
"""Golden acoustic features for test/features.test.ts (SPEC §7), in float64 numpy.

Run with Debian's python (python3-scipy, python3-soundfile):  /usr/bin/python3 scripts/golden_features.py

librosa is not installed here, so its definitions are written out below from librosa 0.10's
source (librosa/feature/spectral.py, librosa/feature/spectral.py::zero_crossing_rate,
librosa/core/audio.py::zero_crossings, librosa/filters.py::mel, librosa/core/convert.py::
hz_to_mel / mel_to_hz / mel_frequencies, librosa/util/utils.py::normalize), applied to the
spectrogram sonotile defines for features (src/features/features.ts): the STFT of SPEC §3.5
(scipy.signal.stft framing and window) of the conditioned signal as librosa's power
S = |rfft(w·frame)|^2 (scipy's PSD |Z|^2 times fs·sum(w^2)), frames centred in the target's
[start, end) (to the recording's end — no end, or one at or past it: librosa's 1 + (n + 2·(nperseg // 2)
− nperseg) // hop frames, for an even nperseg the last centred at the end), magnitude
M = sqrt(S), per-frame values averaged over frames.

Writes test/golden/features/
  cases.json         parameters, target and expected values of every case
  <signal>.f32       the synthetic inputs (little-endian float32), so TypeScript reads the same samples
  mel_<sr>_<n>.f32   librosa.filters.mel(sr, n_fft=n, n_mels=64) exactly as librosa builds it (float32)
"""
import json
import math
import os

import numpy as np
import scipy.signal as sig
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "test", "golden", "features")
FIXTURES = os.path.join(ROOT, "..", "shared", "fixtures")

DEFAULTS = dict(resample=False, samplerate=44100, low_freq=None, high_freq=None, filter_order=5,
                window_size=0.025, hop_size=0.5, window="hann", kaiser_beta=14.0, channel=0)


# --- librosa's mel filterbank (librosa/filters.py::mel, librosa/core/convert.py), verbatim in numpy ---

def hz_to_mel(f):
    f = np.asanyarray(f, dtype=np.float64)
    f_min, f_sp = 0.0, 200.0 / 3
    mels = (f - f_min) / f_sp
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    if f.ndim:
        log_t = f >= min_log_hz
        mels[log_t] = min_log_mel + np.log(f[log_t] / min_log_hz) / logstep
    elif f >= min_log_hz:
        mels = min_log_mel + np.log(f / min_log_hz) / logstep
    return mels


def mel_to_hz(m):
    m = np.asanyarray(m, dtype=np.float64)
    f_min, f_sp = 0.0, 200.0 / 3
    freqs = f_min + f_sp * m
    min_log_hz = 1000.0
    min_log_mel = (min_log_hz - f_min) / f_sp
    logstep = np.log(6.4) / 27.0
    log_t = m >= min_log_mel
    freqs[log_t] = min_log_hz * np.exp(logstep * (m[log_t] - min_log_mel))
    return freqs


def mel_filters(sr, n_fft, n_mels=64):
    """librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0, fmax=sr/2, htk=False,
    norm="slaney", dtype=np.float32)."""
    fmax = float(sr) / 2
    weights = np.zeros((n_mels, int(1 + n_fft // 2)), dtype=np.float32)
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    enorm = 2.0 / (mel_f[2: n_mels + 2] - mel_f[:n_mels])
    weights *= enorm[:, np.newaxis]
    return weights


# --- librosa's spectral features on a magnitude spectrogram M [bins, frames] ---

def normalize_l1(S):
    """librosa.util.normalize(S, norm=1, axis=-2): columns with a sum below tiny are left as they are."""
    length = np.sum(np.abs(S), axis=-2, keepdims=True)
    length[length < np.finfo(S.dtype).tiny] = 1.0
    return S / length


def spectral_centroid(M, freq):
    return np.sum(freq[:, None] * normalize_l1(M), axis=-2)


def spectral_bandwidth(M, freq, centroid, p=2):
    deviation = np.abs(np.subtract.outer(centroid, freq).swapaxes(-2, -1))
    return np.sum(normalize_l1(M) * deviation ** p, axis=-2) ** (1.0 / p)


def spectral_rolloff(M, freq, roll_percent=0.85):
    total = np.cumsum(M, axis=-2)
    threshold = roll_percent * total[-1, :]
    ind = np.where(total < threshold, np.nan, 1)
    return np.nanmin(ind * freq[:, None], axis=-2)


def spectral_flatness(M, amin=1e-10, power=2.0):
    S_thresh = np.maximum(amin, M ** power)
    gmean = np.exp(np.mean(np.log(S_thresh), axis=-2))
    amean = np.mean(S_thresh, axis=-2)
    return gmean / amean


def zero_crossing_rate(y, frame_length, hop_length, threshold=1e-10):
    """librosa.feature.zero_crossing_rate(y, frame_length, hop_length, center=True) with
    librosa.zero_crossings(threshold=1e-10, zero_pos=True, pad=False) per frame."""
    half = frame_length // 2
    y = np.pad(y, (half, half), mode="edge")
    n_frames = 1 + (len(y) - frame_length) // hop_length
    frames = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length][:n_frames]
    frames = frames.copy()
    frames[np.abs(frames) <= threshold] = 0
    sign = np.signbit(frames)
    crossings = np.concatenate([np.zeros((n_frames, 1), bool), sign[:, 1:] != sign[:, :-1]], axis=1)
    return np.mean(crossings, axis=1)


# --- the target: conditioning, STFT power, frames and samples of [start, end) ---

def condition(x, fs, p):
    """SPEC §3.3–3.4 in float64 (resample_poly, Butterworth sosfiltfilt)."""
    x = np.asarray(x, dtype=np.float64)
    if p["resample"] and p["samplerate"] != fs:
        g = math.gcd(int(p["samplerate"]), int(fs))
        x = sig.resample_poly(x, int(p["samplerate"]) // g, int(fs) // g)
        fs = p["samplerate"]
    lo, hi = p["low_freq"], p["high_freq"]
    if lo is not None or hi is not None:
        band, btype = ([lo, hi], "bandpass") if lo is not None and hi is not None else \
            ((lo, "highpass") if lo is not None else (hi, "lowpass"))
        x = sig.sosfiltfilt(sig.butter(p["filter_order"], band, btype, output="sos", fs=fs), x)
    return x, fs


def features(x, fs, params, target):
    p = dict(DEFAULTS, **params)
    duration = len(x) / fs
    x, fs = condition(x, fs, p)
    nperseg = int(p["window_size"] * fs)
    noverlap = int((p["window_size"] - p["hop_size"] * p["window_size"]) * fs)
    hop = nperseg - noverlap
    window = ("kaiser", p["kaiser_beta"]) if p["window"] == "kaiser" else p["window"]
    w = sig.get_window(window, nperseg)
    _, _, Z = sig.stft(x, fs, window=w, nperseg=nperseg, noverlap=noverlap,
                       nfft=nperseg, detrend=False, return_onesided=True, boundary="zeros", padded=True,
                       scaling="psd")
    S = np.abs(Z) ** 2 * fs * np.sum(w * w)                    # librosa's |rfft(w·frame)|^2
    start = target.get("start", 0.0)
    end = min(target.get("end", math.inf), duration)
    t = np.arange(S.shape[1]) * hop / fs                      # frame centres (SPEC §3.5)
    if end < duration:
        S = S[:, (t >= start) & (t < end)]                     # the piece of SPEC §3
    else:                                                      # to the end: librosa's frames (center=True)
        S = S[:, (t >= start) & (np.arange(S.shape[1]) < 1 + (len(x) + 2 * (nperseg // 2) - nperseg) // hop)]
    freq = np.arange(S.shape[0]) * fs / nperseg
    low = target.get("low_freq") or 0.0
    high = target.get("high_freq") or fs / 2
    band = (freq >= low) & (freq <= high)
    Sb, fb = S[band], freq[band]
    M = np.sqrt(Sb)                                            # librosa's magnitude (power=1)

    centroid = spectral_centroid(M, fb)
    mean_spectrum = Sb.mean(axis=1)
    peak = int(np.argmax(mean_spectrum))
    floor = mean_spectrum[peak] * 10 ** (-20 / 10)
    lo_k = peak
    while floor > 0 and lo_k > 0 and mean_spectrum[lo_k - 1] >= floor:  # silence: no band
        lo_k -= 1
    hi_k = peak
    while floor > 0 and hi_k < len(fb) - 1 and mean_spectrum[hi_k + 1] >= floor:
        hi_k += 1
    energy = Sb.sum(axis=0)
    loudest = energy.max()                                     # noise floor ≥ loudest · 1e-10: at most 100 dB
    snr = 10 * math.log10(loudest / max(np.percentile(energy, 10), loudest * 1e-10)) if loudest > 0 else 0.0
    mel = mel_filters(fs, nperseg).astype(np.float64)
    mel[:, ~band] = 0
    log_mel = 10 * np.log10(np.maximum(mel @ S, 1e-10)).mean(axis=1)

    s0 = min(len(x), math.ceil(start * fs))
    s1 = min(len(x), math.ceil(end * fs))
    y = x[s0:s1]
    return dict(
        duration_s=end - start,
        rms_dbfs=20 * math.log10(max(math.sqrt(np.mean(y * y)), 1e-10)),
        peak_dbfs=20 * math.log10(max(np.max(np.abs(y)), 1e-10)),
        zero_crossing_rate=float(zero_crossing_rate(y, nperseg, hop).mean()),
        spectral_centroid_hz=float(centroid.mean()),
        spectral_bandwidth_hz=float(spectral_bandwidth(M, fb, centroid).mean()),
        spectral_flatness=float(spectral_flatness(M).mean()),
        spectral_rolloff_hz=float(spectral_rolloff(M, fb).mean()),
        peak_frequency_hz=float(fb[peak]),
        low_freq_hz=float(fb[lo_k]),
        high_freq_hz=float(fb[hi_k]),
        bandwidth_hz=float(fb[hi_k] - fb[lo_k]),
        snr_db=snr,
        log_mel=[float(v) for v in log_mel],
    ), dict(frames=int(S.shape[1]), nperseg=nperseg, hop=hop)


# --- inputs ---

def synthetic(fs=16000, seconds=1.0):
    n = int(fs * seconds)
    t = np.arange(n) / fs
    rng = np.random.default_rng(20261124)
    f0, f1 = 500.0, 6000.0
    return {
        # A pure tone on a bin (1000 Hz = bin 32 of 512 at 16 kHz): centroid ≈ peak ≈ 1000 Hz,
        # rms −9.03 dBFS, peak −6.02 dBFS, zero-crossing rate 2·1000/16000 = 0.125.
        "tone": (0.5 * np.sin(2 * np.pi * 1000 * t), fs),
        # Gaussian white noise, σ = 0.1: flatness ≈ e^(−γ) ≈ 0.56 per frame, centroid ≈ fs/4,
        # rolloff ≈ 0.85·fs/2, zero-crossing rate ≈ 0.5, rms −20 dBFS.
        "noise": (0.1 * rng.standard_normal(n), fs),
        # Two tones, 1000 Hz at 0.5 and 3000 Hz at 0.25: magnitude-weighted centroid ≈ 1667 Hz.
        "two_tones": (0.5 * np.sin(2 * np.pi * 1000 * t) + 0.25 * np.sin(2 * np.pi * 3000 * t), fs),
        # Linear chirp 500 → 6000 Hz: centroid ≈ the mean instantaneous frequency, 3250 Hz.
        "chirp": (0.5 * sig.chirp(t, f0, seconds, f1, method="linear"), fs),
        # Digital silence: every floor at once.
        "silence": (np.zeros(n // 4), fs),
        # The tone, its second half digital silence: a noise floor of zeros (SNR at its 100 dB cap).
        "tone_then_silence": (np.where(t < seconds / 2, 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0), fs),
    }


CASES = [
    # (name, input, params, target)
    ("tone", "tone", dict(window_size=0.032), {}),
    ("noise", "noise", dict(window_size=0.032), {}),
    ("two_tones", "two_tones", dict(window_size=0.032), {}),
    ("two_tones_clip_band", "two_tones", dict(window_size=0.032), dict(start=0.25, end=0.75, low_freq=2000, high_freq=4000)),
    ("chirp", "chirp", dict(window_size=0.032), {}),
    ("chirp_kaiser_short_hop", "chirp", dict(window_size=0.01, hop_size=0.25, window="kaiser", kaiser_beta=8), {}),
    ("chirp_no_overlap_clip", "chirp", dict(window_size=0.032, hop_size=1), dict(start=0.1003, end=0.9)),
    ("silence", "silence", dict(window_size=0.032), {}),
    ("tone_then_silence", "tone_then_silence", dict(window_size=0.032), {}),
    # 16000 samples, hop 128: a frame is centred on the last sample's end, which librosa counts.
    ("tone_frames_to_the_end", "tone", dict(window_size=0.032, hop_size=0.25), {}),
    # An odd window (125 samples, hop 125): librosa pads 62 samples, so its last frame is centred
    # on sample 15875, not on the end (16000 = 128 hops) — 128 frames, not 129.
    ("chirp_odd_window_to_the_end", "chirp", dict(window_size=0.0078125, hop_size=1), {}),
    ("bats_192k_default", "recordings/batdetect2_20230322_172000_selec2.wav", {}, {}),
    # A fine hop: the engine streams this in several blocks of frames.
    ("bats_192k_fine_hop_clip", "recordings/batdetect2_20230322_172000_selec2.wav", dict(hop_size=0.05), dict(start=0.3, end=1.7)),
    ("carollia_384k_clip", "recordings/XC824040-Carollia_castanea-2013.01.17-CL00312_A_15.wav", dict(window_size=0.002),
     dict(start=0.2, end=0.8, low_freq=30000, high_freq=120000)),
    # A clip whose end is past the recording's (2 s): clamped to it, it keeps the frame centred on
    # the end, as the whole recording does — [start, end) left it out (centroid 28943.48 against 28889.27 Hz).
    ("bats_192k_clip_to_the_end", "recordings/batdetect2_20230322_172000_selec2.wav", {}, dict(start=1.5, end=3)),
    # A clip ending on the recording's end with an odd window: no frame is centred on the end, as for the whole.
    ("chirp_odd_window_clip_to_the_end", "chirp", dict(window_size=0.0078125, hop_size=1), dict(start=0.5, end=1.0)),
    ("bats_resampled_96k", "recordings/batdetect2_20230322_172000_selec2.wav", dict(resample=True, samplerate=96000), dict(end=1.5)),
    ("whombat_44k_highpass", "recordings/whombat_tests_bats.wav", dict(low_freq=2000, channel=1), {}),
]


def main():
    os.makedirs(OUT, exist_ok=True)
    signals = synthetic()
    for name, (x, fs) in signals.items():
        signals[name] = (x.astype(np.float32), fs)
        signals[name][0].astype("<f4").tofile(os.path.join(OUT, f"{name}.f32"))
    cases = []
    for name, source, params, target in CASES:
        if source in signals:
            x, fs = signals[source]
            input_ = dict(signal=f"{source}.f32", samplerate=fs)
        else:
            data, fs = sf.read(os.path.join(FIXTURES, source), dtype="float32", always_2d=True)
            x = data[:, dict(DEFAULTS, **params)["channel"]]
            input_ = dict(fixture=source)
        expected, geometry = features(x.astype(np.float64), fs, params, target)
        cases.append(dict(name=name, input=input_, params=params, target=target, geometry=geometry, expected=expected))
        print(f"{name:26s} frames={geometry['frames']:5d} centroid={expected['spectral_centroid_hz']:10.2f} "
              f"flatness={expected['spectral_flatness']:.4f} zcr={expected['zero_crossing_rate']:.4f} snr={expected['snr_db']:.2f}")
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(dict(generator="scripts/golden_features.py", cases=cases), f, indent=1)
    for sr, n in [(16000, 512), (44100, 1102)]:
        mel_filters(sr, n).astype("<f4").tofile(os.path.join(OUT, f"mel_{sr}_{n}.f32"))


if __name__ == "__main__":
    main()
