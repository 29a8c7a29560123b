// Short-time Fourier transform power, exactly as scipy.signal.stft(..., boundary="zeros",
// padded=True, scaling="psd", detrend=False) followed by |Z|² (SPEC §3.5).
//
// The caller describes the framing by where frame 0 starts in its sample buffer; samples
// outside the buffer are zeros. That single rule covers scipy's zero padding at both ends
// of the recording and lets a long recording be processed block by block.
import { RealFft } from "./fft";
import { FourFrameFft, fourFrameLength } from "./fft/four-frames";
import { Registry } from "./registry";
import { maxLane } from "./vmath";

class Stft {
  readonly n: i32;
  readonly bins: i32;
  readonly fft: RealFft;
  readonly window: usize; // n f32, owned
  readonly frame: usize; // n f32 scratch: the windowed frame
  /** Four frames per transform for `stftPowerColumns`, for the lengths it handles; else null. */
  readonly fourFrames: FourFrameFft | null;
  /** 4·n f32 scratch for `fourFrames`: frames that overlap the padding, with their zeros. */
  readonly padded: usize;

  constructor(n: i32, window: usize) {
    this.n = n;
    this.bins = n / 2 + 1;
    this.fft = new RealFft(n);
    this.window = heap.alloc(<usize>n << 2);
    memory.copy(this.window, window, <usize>n << 2);
    this.frame = heap.alloc(<usize>n << 2);
    this.fourFrames = fourFrameLength(n) ? new FourFrameFft(n) : null;
    this.padded = this.fourFrames !== null ? heap.alloc(<usize>n << 4) : 0;
  }

  /**
   * Where the frame starting at buffer index `start` can be read: in the buffer itself, or — when
   * it overlaps the padding — copied with its zeros to `scratch` (n f32), which is returned.
   */
  frameAt(samples: usize, length: i32, start: i32, scratch: usize): usize {
    const n = this.n;
    if (start >= 0 && start + n <= length) return samples + (<usize>start << 2);
    for (let i = 0; i < n; i++) {
      const j = start + i;
      store<f32>(scratch + (<usize>i << 2), j >= 0 && j < length ? load<f32>(samples + (<usize>j << 2)) : 0);
    }
    return scratch;
  }

  /** Slot `slot` (0 … 3) of `padded`, the four-frame path's scratch for frames in the padding. */
  paddedSlot(slot: i32): usize {
    return this.padded + (<usize>(slot * this.n) << 2);
  }

  /** frame[i] = x[start + i] · window[i], with x = 0 outside [0, length) (`frameAt`, windowed in place). */
  fillFrame(samples: usize, length: i32, start: i32): void {
    const n = this.n;
    const frame = this.frame;
    const window = this.window;
    const x = this.frameAt(samples, length, start, frame);
    let i = 0;
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(frame + o, f32x4.mul(v128.load(x + o), v128.load(window + o)));
    }
    for (; i < n; i++) {
      const o = <usize>i << 2;
      store<f32>(frame + o, load<f32>(x + o) * load<f32>(window + o));
    }
  }

  dispose(): void {
    heap.free(this.window);
    heap.free(this.frame);
    if (this.fourFrames !== null) {
      this.fourFrames!.dispose();
      heap.free(this.padded);
    }
  }
}

const plans = new Registry<Stft>();

/** A plan for frames of `n` samples tapered by the `n` f32 values at `window` (copied). */
export function stftCreate(n: i32, window: usize): i32 {
  return plans.add(new Stft(n, window));
}

export function stftDestroy(handle: i32): void {
  plans.get(handle).dispose();
  plans.remove(handle);
}

/** Whether `stftPowerColumns` serves this plan (its length is one FourFrameFft handles). */
export function stftHasColumns(handle: i32): bool {
  return plans.get(handle).fourFrames !== null;
}

/**
 * Power spectra of `frameCount` frames, frame j starting at buffer index `first + j·hop` of the
 * `length` f32 samples at `samples`. Writes frame-major rows of n/2+1 values to `output`.
 * `scale` is scipy's PSD factor 1 / (fs · Σ window²). Returns the largest value written
 * (−Infinity for no frames), the block's share of the normalization peak.
 */
export function stftPower(handle: i32, samples: usize, length: i32, first: i32, hop: i32, frameCount: i32, scale: f32, output: usize): f32 {
  const plan = plans.get(handle);
  const rowBytes = <usize>plan.bins << 2;
  let peak = f32x4.splat(-Infinity);
  const n = plan.n, fft = plan.fft;
  for (let j = 0; j < frameCount; j++) {
    const start = first + j * hop, row = output + <usize>j * rowBytes;
    // A frame inside the buffer goes to the FFT as it is, windowed by the FFT's first stage where
    // that stage is generated (the common lengths): no windowed copy is written and read back.
    if (fft.windowable && start >= 0 && start + n <= length) {
      peak = fft.power(samples + (<usize>start << 2), plan.window, row, scale, peak);
    } else {
      plan.fillFrame(samples, length, start);
      peak = fft.power(plan.frame, 0, row, scale, peak);
    }
  }
  return maxLane(peak);
}

/**
 * `stftPower`'s values, frame j written to column j of the [bins][stride] matrix at `output`
 * (bin k's row at output + 4·k·stride) — or only the maximum returned when output is 0 — four
 * frames per transform (assembly/fft/four-frames.ts): no frame-major rows and no layout change
 * afterwards. A last group of fewer than four frames repeats its last frame in the spare lanes.
 * Only for plans with `stftHasColumns`.
 */
export function stftPowerColumns(handle: i32, samples: usize, length: i32, first: i32, hop: i32, frameCount: i32, scale: f32, output: usize, stride: i32): f32 {
  const plan = plans.get(handle);
  const fft = plan.fourFrames!;
  const rowBytes = <usize>stride << 2;
  let peak = f32x4.splat(-Infinity);
  for (let j = 0; j < frameCount; j += 4) {
    const lanes = min(4, frameCount - j), start = first + j * hop;
    const x0 = plan.frameAt(samples, length, start, plan.paddedSlot(0));
    const x1 = lanes > 1 ? plan.frameAt(samples, length, start + hop, plan.paddedSlot(1)) : x0;
    const x2 = lanes > 2 ? plan.frameAt(samples, length, start + 2 * hop, plan.paddedSlot(2)) : x1;
    const x3 = lanes > 3 ? plan.frameAt(samples, length, start + 3 * hop, plan.paddedSlot(3)) : x2;
    peak = fft.power(x0, x1, x2, x3, plan.window, output != 0 ? output + (<usize>j << 2) : 0, rowBytes, lanes, scale, peak);
  }
  return maxLane(peak);
}

/**
 * True when the sum of the `n` samples at `samples` is finite — false for any NaN or ±Infinity
 * among them, which the STFT refuses: they would spread over every bin of every frame that reads
 * them (and through normalization and PCEN over the whole recording). NaN and ±Infinity survive
 * any sum; finite samples can only reach an infinite sum beyond |x| ~ 1e31, where their power has
 * long overflowed (the caller tells the two apart). Four running sums, independent chains: one add
 * per four samples, on samples just copied into the core, so read from cache.
 */
export function samplesFinite(samples: usize, n: i32): bool {
  let a = f32x4.splat(0), b = a, c = a, d = a;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = samples + (<usize>i << 2);
    a = f32x4.add(a, v128.load(p));
    b = f32x4.add(b, v128.load(p, 16));
    c = f32x4.add(c, v128.load(p, 32));
    d = f32x4.add(d, v128.load(p, 48));
  }
  for (; i < n; i++) a = f32x4.add(a, f32x4.splat(load<f32>(samples + (<usize>i << 2))));
  const sum = f32x4.add(f32x4.add(a, b), f32x4.add(c, d));
  const zero = f32x4.sub(sum, sum); // 0 where the sum is finite, NaN where it is not
  return !v128.any_true(f32x4.ne(zero, zero));
}
