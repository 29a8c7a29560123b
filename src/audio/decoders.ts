/**
 * The decoder libraries (the `@wasm-audio-decoders` family: libFLAC, mpg123, libvorbis, libopus)
 * behind one streaming interface (StreamDecoder), and what their output and errors become: the
 * AudioFormatErrors that say where a stream breaks (guard, checkDecoded, explainFlac,
 * shortStream) and FLAC's samples at libsndfile's scale (rescaleFlacInto).
 */
import type { CodecFrame } from "codec-parser";
import { frameProblemAfter, seekFrame, withStatedCodes } from "./flacseek.js";
import type { Probe } from "./probe.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError } from "./types.js";

export interface Decoded {
  channelData: Float32Array[];
  samplesDecoded: number;
  errors: { message: string }[];
  /** FLAC: the sample depth of the decoded frames, as their headers state it. */
  bitDepth?: number;
  /** The rate the decoder decodes at (every library here reports it). */
  sampleRate?: number;
}
export interface StreamDecoder {
  decode(bytes: Uint8Array): Decoded | Promise<Decoded>;
  flush?(): Promise<Decoded>;
  /** FLAC: whole frames, straight to libFLAC, past the library's frame parser (flacDecoder). */
  decodeFrames?(frames: Uint8Array[]): Decoded | Promise<Decoded>;
  free(): void;
}

/**
 * What the decoders print with console.error for every corrupt frame (libopus once per packet,
 * dozens of lines for one bad file). They also return each error in their result, which becomes
 * the one AudioFormatError saying where the stream breaks (checkDecoded), so these lines are dropped.
 */
const DECODER_NOISE = /^(libopus -?\d|mpg123-decoder: |@wasm-audio-decoders\/flac: )/;

let decoderNoiseFiltered = false;

/** Drops DECODER_NOISE from console.error (installed once, when a compressed decoder is first created). */
function filterDecoderNoise(): void {
  if (decoderNoiseFiltered) return;
  decoderNoiseFiltered = true;
  const print = console.error;
  console.error = (...args: unknown[]) => {
    if (!(typeof args[0] === "string" && DECODER_NOISE.test(args[0]))) print(...args);
  };
}

/** A fresh decoder for the stream `p` (each library loaded on first use), its console noise filtered. */
export async function createDecoder(p: Probe): Promise<StreamDecoder> {
  filterDecoderNoise();
  let d: StreamDecoder & { ready: Promise<void> };
  switch (p.kind) {
    case "flac":
      d = await flacDecoder(p.flac!.streaminfo);
      break;
    case "mp3": {
      const { MPEGDecoder } = await import("mpg123-decoder");
      d = new MPEGDecoder(); // gapless by default: LAME/Xing delay and padding are trimmed, as libsndfile does
      break;
    }
    case "vorbis": {
      const { OggVorbisDecoder } = await import("@wasm-audio-decoders/ogg-vorbis");
      d = new OggVorbisDecoder();
      break;
    }
    case "opus": {
      const { OggOpusDecoder } = await import("ogg-opus-decoder");
      // At the rate probeOgg chose as libsndfile does (8/12/16/24/48 kHz, see there);
      // `sampleRate` is accepted by OggOpusDecoder's constructor though missing from its typings.
      const Ctor = OggOpusDecoder as unknown as new (o: { sampleRate: number }) => StreamDecoder & { ready: Promise<void> };
      d = new Ctor({ sampleRate: p.samplerate });
      break;
    }
  }
  await d.ready;
  const free = d.free.bind(d);
  // After a trap the library's WebAssembly instance is unusable and its free() traps too: that
  // error had replaced the decode error the reader reports, and a reader's close() had failed
  // before closing its file. Dropped, the instance goes with the garbage collector.
  d.free = () => {
    try {
      free();
    } catch (err) {
      if (!(err instanceof WebAssembly.RuntimeError)) throw err;
    }
  };
  return d;
}

/**
 * The FLAC decoder library as its own `decode` runs it — its frame parser (codec-parser) cuts the
 * bytes into frames, and libFLAC decodes them — with each frame's codes that take the sample rate
 * or depth from STREAMINFO stated in the frame (withStatedCodes): no decoder is given STREAMINFO,
 * which libFLAC would need for such frames (libFLAC writes them for rates no other code states,
 * such as 768 kHz) and which made the library trap on seeks (see withStatedCodes).
 * @param streaminfo "fLaC" + the STREAMINFO block (FlacSeek.streaminfo)
 */
async function flacDecoder(streaminfo: Uint8Array): Promise<StreamDecoder & { ready: Promise<void> }> {
  const [{ FLACDecoder }, { default: CodecParser }] = await Promise.all([import("@wasm-audio-decoders/flac"), import("codec-parser")]);
  const flac = new FLACDecoder();
  const frames = new CodecParser<CodecFrame>("audio/flac", { enableFrameCRC32: false });
  const decodeFrames = (list: Uint8Array[]) => flac.decodeFrames(list.map((frame) => withStatedCodes(frame, streaminfo)));
  // parseChunk and flush are generators; their typings say Iterator, not Iterable.
  const framesOf = (parsed: Iterator<CodecFrame>) => Array.from(parsed as unknown as Iterable<CodecFrame>, (f) => f.data);
  return {
    ready: flac.ready,
    decode: (bytes) => decodeFrames(framesOf(frames.parseChunk(bytes))),
    flush: () => decodeFrames(framesOf(frames.flush())), // the end of the stream: only decodeFrames follows (Cursor.decodeLastFlacFrame)
    decodeFrames,
    free: () => flac.free(),
  };
}

/** A decoder library's own error text, one line of at most 200 printable characters: a detail, never the message. */
export function libraryText(err: unknown): string {
  const text = String((err as Error)?.message ?? err).replace(/[^ -~]+/g, " ").trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * Runs a decoder call on the stream at `what` (e.g. "the audio after frame 8056, at 0.504 s");
 * anything it throws (codec-parser errors, WebAssembly traps, the libraries' own TypeErrors and
 * ReferenceErrors) becomes an AudioFormatError saying where the stream is corrupt. The library's
 * text ("Cannot read properties of undefined (reading 'samples')") names its internals, nothing a
 * user can act on, so it is only a trailing detail.
 */
export async function guard<T>(kind: string, what: string, call: () => T | Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (err instanceof AudioFormatError) throw err;
    throw new AudioFormatError(`${kind}: corrupt stream: cannot decode ${what} (decoder error: ${libraryText(err)})`);
  }
}

/**
 * `r`, unless the decoder reported an error decoding `what` (e.g. "the audio after frame 8056").
 * The message says where the stream breaks, not what the decoder said: its text ("libopus -4
 * OPUS_INVALID_PACKET: …", "_init vorbis_synthesisUnknown Error", "-1 MPG123_ERR") names its
 * internals, nothing a user can act on.
 */
export function checkDecoded(kind: string, r: Decoded, what: string): Decoded {
  if (r.errors.length) throw new AudioFormatError(`${kind}: corrupt stream: cannot decode ${what}`);
  return r;
}

/**
 * A FLAC stream's error `err` (decoding failed, or the frames ran out, after frame `sample`), or
 * the error naming the frame that explains it when a header from the frame holding that one on
 * has a reserved code or a sample rate not STREAMINFO's (flacseek.ts frameProblemAfter): the
 * decoder skips such a frame and says only that the stream broke. Other errors, and other
 * formats', are returned as they are.
 */
export async function explainFlac(src: ByteSource, probe: Probe, sample: number, err: unknown): Promise<unknown> {
  const flac = probe.flac;
  if (!flac || !(err instanceof AudioFormatError)) return err;
  const frame = await seekFrame(src, flac.firstFrame, sample, flac.blocksize, flac.dataEnd, flac.window);
  const problem = frame && (await frameProblemAfter(src, frame.offset, probe.samplerate));
  return problem ? new AudioFormatError(problem) : err;
}

/**
 * The FLAC decoder scales integers by 1/(2^(bits-1) − 1); libsndfile by 1/2^(bits-1). Recovers the
 * integer and writes it rescaled into `target` from `at` on. `bits` is the depth of the decoded
 * frames (their headers' value, which the decoder reports and scaled by), not STREAMINFO's: see
 * checkFirstFlacFrame.
 *
 * Rounded as ⌊v + 0.5⌋, which is Math.round(v) wherever v + 0.5 is exact and v is not in
 * (−0.5, 0): so for every value the decoder gives, an integer i (|i| ≤ 2^23) over 2^(bits−1) − 1
 * rounded to float32, v = i within that rounding (far from any half; +0 for i = 0) — tested for
 * every integer of 8, 16 and 24 bits. Math.round compiles to a branch on the fraction, which real
 * audio mispredicts about every other sample: 10 ns a sample against 2, 0.6 s of a 4 s stats pass
 * over 30 min of 44.1 kHz FLAC.
 */
export function rescaleFlacInto(decoded: Float32Array, target: Float32Array, at: number, bits: number): void {
  const full = 2 ** (bits - 1);
  const decoderScale = full - 1;
  for (let i = 0; i < decoded.length; i++) target[at + i] = Math.floor(decoded[i] * decoderScale + 0.5) / full;
}

/**
 * Opus: the OpusHead Output Gain `gain` (1/256 dB, Q7.8: RFC 7845 §5.1 says a player MUST apply
 * it) applied to the first `n` decoded frames, in place: 10^(gain / (20·256)), as libsndfile has
 * libopus apply it (OPUS_SET_GAIN). The decoder library ignores the field, so a file with +6 dB
 * peaked at 1.0 where libsndfile reads 1.995.
 */
export function applyOpusGain(channelData: Float32Array[], channels: number, n: number, gain: number): void {
  if (gain === 0) return;
  const factor = 10 ** (gain / 5120);
  for (let c = 0; c < channels; c++) {
    const x = channelData[c];
    for (let i = 0; i < n; i++) x[i] *= factor;
  }
}

/**
 * The error of a stream shorter than its header says, at open (checkFlacEnd) or when a read runs
 * out (StreamReader.read): `exact` when its end is known, else where the read looked for audio.
 */
export function shortStream(kind: string, end: number, stated: number, exact: boolean): AudioFormatError {
  return new AudioFormatError(`${kind}: stream ends ${exact ? "at" : "near"} frame ${end}, the header says ${stated} (truncated, or corrupt from there?)`);
}
