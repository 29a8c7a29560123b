/**
 * A recording's frames as interleaved float32 pieces — the sample layout of WAV and of NumPy's
 * [frames, channels] — for writers that stream a long range with bounded memory (`sonotile
 * decode`, the playback route).
 */
import type { AudioReader } from "./types.js";

/** Frames per piece by default: bounds memory at PIECE_FRAMES · channels · 8 bytes. */
const PIECE_FRAMES = 1 << 18;

/**
 * Frames [start, end) of every channel, interleaved, in pieces of at most `pieceFrames` frames.
 * A piece always holds all its frames: where a stream ends before the frames its header
 * announced, the missing samples are zeros, so a header written beforehand stays true.
 * @param pieceFrames frames per piece (an integer ≥ 1; default PIECE_FRAMES)
 */
export async function* interleavedPieces(reader: AudioReader, start: number, end: number, pieceFrames = PIECE_FRAMES): AsyncGenerator<Float32Array> {
  const { channels } = reader.info;
  for (let from = start; from < end; from += pieceFrames) {
    const count = Math.min(pieceFrames, end - from);
    const out = new Float32Array(count * channels);
    for (let c = 0; c < channels; c++) {
      const x = await reader.read(c, from, count);
      for (let i = 0; i < x.length; i++) out[i * channels + c] = x[i];
    }
    yield out;
  }
}
