/**
 * A minimal 16-bit PCM WAV encoder for the demo recordings: canonical 44-byte header
 * (RIFF/WAVE, `fmt ` PCM, `data`), samples clipped to [-1, 1) and scaled by 2^15 — the
 * inverse of the int16 decoding of SPEC §3.1, so a decoder returns round(x·32768)/32768.
 */

/** Encodes mono or interleaved multi-channel `samples` (frames × channels) as a WAV file. */
export function encodeWav16(samples: Float32Array, samplerate: number, channels = 1): Uint8Array {
  if (!Number.isInteger(samplerate) || samplerate <= 0) throw new Error(`samplerate must be a positive integer, got ${samplerate}`);
  if (!Number.isInteger(channels) || channels <= 0) throw new Error(`channels must be a positive integer, got ${channels}`);
  if (samples.length % channels !== 0) throw new Error(`${samples.length} samples do not divide into ${channels} channels`);
  const dataBytes = samples.length * 2;
  const out = new Uint8Array(44 + dataBytes);
  const view = new DataView(out.buffer);
  const ascii = (offset: number, text: string) => { for (let i = 0; i < 4; i++) out[offset + i] = text.charCodeAt(i); };
  ascii(0, "RIFF");
  view.setUint32(4, 36 + dataBytes, true);
  ascii(8, "WAVE");
  ascii(12, "fmt ");
  view.setUint32(16, 16, true); // fmt chunk size
  view.setUint16(20, 1, true); // WAVE_FORMAT_PCM
  view.setUint16(22, channels, true);
  view.setUint32(24, samplerate, true);
  view.setUint32(28, samplerate * channels * 2, true); // byte rate
  view.setUint16(32, channels * 2, true); // block align
  view.setUint16(34, 16, true); // bits per sample
  ascii(36, "data");
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i++) {
    const v = Math.round(samples[i] * 32768);
    view.setInt16(44 + 2 * i, v > 32767 ? 32767 : v < -32768 ? -32768 : v, true);
  }
  return out;
}
