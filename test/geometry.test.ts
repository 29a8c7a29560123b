/** Frame geometry (SPEC §3.5) and pieces (SPEC §3): sizes as Python computes them, centres in [start, end). */
import { describe, expect, it } from "vitest";
import { frameCount, frameGeometry, framesInInterval, frameStart, frameTime, samplesOfFrames } from "../src/engine/geometry.js";
import { ParamsError } from "../src/engine/params.js";

describe("frameGeometry", () => {
  it("truncates like Python's int() at the rates of real recordings", () => {
    // Whombat defaults (window_size 0.025, hop_size 0.5) at 44.1 kHz: int(1102.5) = 1102, int(551.25) = 551.
    expect(frameGeometry(0.025, 0.5, 44100)).toMatchObject({ nperseg: 1102, noverlap: 551, hop: 551, bins: 552 });
    // 312.5 kHz: nperseg = int(7812.5) = 7812; noverlap = int(3906.25) = 3906.
    expect(frameGeometry(0.025, 0.5, 312500)).toMatchObject({ nperseg: 7812, noverlap: 3906, hop: 3906, bins: 3907 });
    // 0.1 * 48000 is 4800.000000000001 in float64 and (0.1 - 0.3*0.1)*48000 is 3360.0000000000005.
    expect(frameGeometry(0.1, 0.3, 48000)).toMatchObject({ nperseg: 4800, noverlap: 3360, hop: 1440 });
  });

  it("rejects windows shorter than two samples and hops of zero, naming the field", () => {
    expect(() => frameGeometry(0.00001, 0.5, 44100)).toThrow(ParamsError);
    expect(() => frameGeometry(0.00001, 0.5, 44100)).toThrow(/window_size/);
    expect(() => frameGeometry(0.025, 1e-9, 44100)).toThrow(/hop_size/);
    // One sample is "1 sample" (a researcher reads these messages)
    expect(() => frameGeometry(1 / 16000, 0.5, 16000)).toThrow(new ParamsError([{ field: "window_size", message: "gives 1 sample at 16000 Hz; needs at least 2" }]));
  });

  it("refuses what parseParams refuses, naming the argument: it is in the library API", () => {
    // Before, NaN sizes (a string window) or a negative overlap (hop_size 2) came out as a geometry.
    expect(() => frameGeometry("a" as unknown as number, 0.5, 44100)).toThrow(new TypeError(`window_size: must be a number, got string "a"`));
    expect(() => frameGeometry(0.025, 2, 44100)).toThrow(new ParamsError([{ field: "hop_size", message: "must be > 0 and <= 1, got 2" }]));
    expect(() => frameGeometry(0.025, 0, 44100)).toThrow(/hop_size: must be > 0 and <= 1, got 0/);
    expect(() => frameGeometry(NaN, 0.5, 44100)).toThrow(/window_size: must be a finite number > 0 \(seconds\), got NaN/);
    expect(() => frameGeometry(Infinity, 0.5, 44100)).toThrow(/window_size/);
    for (const rate of [0, -1, NaN, Infinity]) expect(() => frameGeometry(0.025, 0.5, rate)).toThrow(new RangeError(`samplerate: must be a finite number > 0 (Hz), got ${rate}`));
  });
});

describe("frameCount (scipy boundary='zeros', padded=True)", () => {
  // Values from scipy.signal.stft(np.zeros(n), nperseg=..., noverlap=...)[2].shape[1]. (scipy shrinks
  // nperseg to the signal length when the signal is shorter; sonotile keeps it and zero-pads.)
  const cases: [number, number, number, number][] = [
    // [samples, nperseg, noverlap, frames]
    [4, 4, 2, 3], [10, 4, 2, 6], [11, 4, 2, 7], [1000, 256, 128, 9], [1000, 255, 100, 8], [48000, 1200, 600, 81], [7, 7, 0, 2], [8, 7, 0, 2],
  ];
  for (const [n, nperseg, noverlap, frames] of cases) {
    it(`${n} samples, nperseg ${nperseg}, noverlap ${noverlap} → ${frames} frames`, () => {
      const g = { nperseg, noverlap, hop: nperseg - noverlap, bins: nperseg / 2 + 1, samplerate: 1 };
      expect(frameCount(n, g)).toBe(frames);
    });
  }
});

describe("framesInInterval", () => {
  const g = frameGeometry(0.025, 0.5, 44100); // hop 551 samples = 12.494 ms
  const frames = frameCount(44100 * 2, g);

  it("takes the frames whose centres lie in [start, end)", () => {
    const [f0, f1] = framesInInterval(0.5, 1.0, frames, g);
    expect(frameTime(f0, g)).toBeGreaterThanOrEqual(0.5);
    expect(frameTime(f0 - 1, g)).toBeLessThan(0.5);
    expect(frameTime(f1 - 1, g)).toBeLessThan(1.0);
    expect(frameTime(f1, g)).toBeGreaterThanOrEqual(1.0);
  });

  it("includes a frame centred exactly at start and excludes one exactly at end", () => {
    const t = frameTime(40, g);
    expect(framesInInterval(t, frameTime(50, g), frames, g)).toEqual([40, 50]);
  });

  it("clips to the recording and handles empty and unbounded intervals", () => {
    expect(framesInInterval(0, Infinity, frames, g)).toEqual([0, frames]);
    expect(framesInInterval(-3, 0, frames, g)).toEqual([0, 0]);
    expect(framesInInterval(100, 200, frames, g)).toEqual([frames, frames]);
    expect(framesInInterval(1.2, 1.1, frames, g)[1]).toBe(framesInInterval(1.2, 1.1, frames, g)[0]);
  });

  it("refuses bounds and counts that are no numbers, naming them: it is in the library API (a NaN start gave no frame, as if past the end)", () => {
    expect(() => framesInInterval(NaN, 1, frames, g)).toThrow(new RangeError("start: must be a number (seconds), got NaN"));
    expect(() => framesInInterval(0, "1" as never, frames, g)).toThrow(new TypeError('end: must be a number (seconds), got string "1"'));
    expect(() => framesInInterval(0, 1, NaN, g)).toThrow(new RangeError("frames: must be a count of frames (an integer ≥ 0), got NaN"));
    expect(() => frameCount(NaN, g)).toThrow(new RangeError("samples: must be a count of samples (an integer ≥ 0), got NaN"));
    expect(() => frameCount(100.5, g)).toThrow(new RangeError("samples: must be a count of samples (an integer ≥ 0), got 100.5"));
    expect(frameCount(0, g)).toBe(0);
  });
});

describe("samplesOfFrames", () => {
  it("covers every sample the frames read, clipped to the signal", () => {
    const g = frameGeometry(0.025, 0.5, 44100);
    expect(frameStart(0, g)).toBe(-551);
    expect(samplesOfFrames(0, 3, 100000, g)).toEqual([0, 2 * 551 - 551 + 1102]);
    expect(samplesOfFrames(10, 12, 100000, g)).toEqual([10 * 551 - 551, 11 * 551 - 551 + 1102]);
    expect(samplesOfFrames(10, 12, 6000, g)).toEqual([10 * 551 - 551, 6000]);
  });
});
