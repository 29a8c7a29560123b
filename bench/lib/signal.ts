/**
 * The benchmark signal: deterministic synthetic audio, written once to a raw float32 file in
 * the temp directory so the in-process peers, the FFTW program and scipy all read the same
 * samples.
 */
import { existsSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import os from "node:os";
import path from "node:path";

export interface BenchSignal {
  samples: Float32Array;
  samplerate: number;
  /** Raw little-endian float32 file holding `samples` (for the child-process peers). */
  file: string;
}

/**
 * `seconds` of audio at `samplerate` Hz: three slowly gliding tones (bird-like sweeps) plus
 * white noise at −30 dB from a linear congruential generator started at `seed` (recordings
 * of a batch differ by their seed), peak below 1. Every bin gets energy, so no
 * implementation can take a shortcut on silence.
 */
export function synthesize(seconds: number, samplerate: number, seed = 0x12345678): Float32Array {
  const n = Math.round(seconds * samplerate);
  const x = new Float32Array(n);
  const tones = [
    { f0: 0.02, f1: 0.12, period: 3.1, amp: 0.3 },
    { f0: 0.08, f1: 0.25, period: 0.7, amp: 0.2 },
    { f0: 0.3, f1: 0.45, period: 11.0, amp: 0.1 },
  ];
  const phases = tones.map(() => 0);
  for (let i = 0; i < n; i++) {
    const t = i / samplerate;
    let v = 0;
    for (let k = 0; k < tones.length; k++) {
      const tone = tones[k];
      // Instantaneous frequency (as a fraction of fs) glides between f0 and f1 and back.
      const glide = 0.5 - 0.5 * Math.cos((2 * Math.PI * t) / tone.period);
      phases[k] += 2 * Math.PI * (tone.f0 + (tone.f1 - tone.f0) * glide);
      v += tone.amp * Math.sin(phases[k]);
    }
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; // Numerical Recipes LCG
    v += 0.03 * (seed / 2 ** 31 - 1);
    x[i] = v;
  }
  return x;
}

/** The signal for (`seconds`, `samplerate`), and its file, created on first use. */
export function benchSignal(seconds: number, samplerate: number): BenchSignal {
  const samples = synthesize(seconds, samplerate);
  const file = path.join(os.tmpdir(), `sonotile-bench-v1-${samplerate}Hz-${seconds}s.f32`);
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  if (!existsSync(file) || !readFileSync(file).equals(bytes)) {
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, bytes); // the host is little-endian (x86/arm): Float32Array bytes are LE
    renameSync(partial, file);
  }
  return { samples, samplerate, file };
}
