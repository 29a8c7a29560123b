/**
 * An AudioReader over samples already in memory, so decoded or synthetic signals go through
 * the same recording pipeline (pieces, streaming blocks) as files on disk.
 */
import { outputArray } from "./reader.js";
import { describeValue, signalSamples } from "./signal.js";
import type { AudioReader } from "./types.js";

/**
 * A reader over `given` channels (one Float32Array per channel, equal lengths; a Float64Array is
 * converted to float32) at `samplerate` Hz. Anything else is a TypeError naming `channels[i]`, as a
 * `samplerate` that is no number is one naming it (text such as "8000" was taken).
 */
export function samplesReader(given: (Float32Array | Float64Array)[], samplerate: number): AudioReader {
  if (!Array.isArray(given)) throw new TypeError(`channels: must be an array of Float32Array (one per channel), got ${describeValue(given)}`);
  const channels = given.map((c, i) => signalSamples(c, `channels[${i}]`));
  const frames = channels[0]?.length ?? 0;
  if (channels.some((c) => c.length !== frames)) throw new RangeError("channels: all channels must have the same length");
  if (typeof samplerate !== "number") throw new TypeError(`samplerate: must be a number (Hz), got ${describeValue(samplerate)}`);
  if (!(samplerate > 0)) throw new RangeError(`samplerate: must be > 0 (Hz), got ${samplerate}`);
  return {
    info: { container: "memory", encoding: "float", samplerate, channels: channels.length, frames, duration: frames / samplerate, bitsPerSample: 32, metadata: {} },
    async read(channel, start, count, into) {
      const from = Math.max(0, Math.min(start, frames));
      const piece = channels[channel].subarray(from, Math.max(from, Math.min(frames, start + count)));
      const out = outputArray(piece.length, into);
      out.set(piece);
      return out;
    },
    async close() {},
  };
}
