/**
 * Opening a FLAC stream after its probe (probe.ts probeFlac): where its frames start (flacSeekInfo),
 * its first frame against STREAMINFO (checkFirstFlacFrame), what the decoder can read and where the
 * frames end (openFlac), and its length against that end (checkFlacEnd). The frame searches are
 * flacseek.ts's.
 */
import { shortStream } from "./decoders.js";
import { decoderProblem, type FlacEnd, frameHeaderProblem, lastFrameEnd, readFrameHeader, searchWindow, seekFrame } from "./flacseek.js";
import type { FlacSeek, Probe } from "./probe.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, plural } from "./types.js";

/** Metadata blocks walked before a file is refused: each is a read, and real files have a handful. */
const MAX_METADATA_BLOCKS = 10_000;

/** Walks the FLAC metadata blocks (4-byte headers: last flag, type, 24-bit length) to the first frame. */
export async function flacSeekInfo(src: ByteSource, start: number, head: Uint8Array): Promise<FlacSeek> {
  let at = start + 4;
  for (let n = 0; ; n++) {
    if (n > MAX_METADATA_BLOCKS) throw new AudioFormatError(`flac: more than ${MAX_METADATA_BLOCKS} metadata blocks`);
    const h = await src.read(at, 4);
    if (h.length < 4) throw new AudioFormatError(`flac: file ends inside the metadata at byte ${at}`);
    const length = (h[1] << 16) | (h[2] << 8) | h[3];
    at += 4 + length;
    if (at > src.size) throw new AudioFormatError(`flac: metadata block declares ${length} bytes, past the end of the file`);
    if (h[0] & 0x80) break;
  }
  const streaminfo = head.slice(0, 42);
  const blocksize = (head[10] << 8) | head[11];
  return { firstFrame: at, streaminfo, blocksize, depthFrom: "STREAMINFO" };
}

/**
 * Where the first FLAC frame begins, and its header against STREAMINFO.
 *
 * Where: where the metadata ends (RFC 9639 §9), or after bytes there that are no frame (a metadata
 * block whose length says less than it holds), as libFLAC, which searches for a sync code, reads
 * it; `flac.firstFrame` moves there. Where the first frame found after it is not the stream's
 * first (a block that says more than it holds ends inside that frame; a header that fails its
 * CRC-8), the file is refused: the frame searches of seeks start at `firstFrame`, and such a
 * file, which decoded whole, failed every read of its first frame's samples that came after
 * another read (`no frame found before sample 1024`).
 *
 * Codes: a reserved one, or a sample rate not STREAMINFO's, is refused here, naming the frame's
 * byte (frameHeaderProblem): the decoder skips a frame it cannot parse, and the next one's
 * samples would have been read as the first's. (Code 0, "from STREAMINFO", is what a rate above
 * 655350 Hz gets, RFC 9639 §9.1.2.)
 *
 * Channels: a mismatch is refused here, at open, naming both counts (libsndfile refuses it too,
 * "flac channel changed mid stream").
 *
 * Depth: the samples are decoded at the depth the frame headers state, not STREAMINFO's. libFLAC
 * decodes each frame by its own header (its CRC-8 covers that field; nothing covers STREAMINFO's),
 * the WebAssembly decoder reports that depth and scales by it, and libsndfile (1.0.35 with libFLAC
 * 1.4, checked on flac_pcm_16.flac and flac_pcm_24.flac with STREAMINFO saying 8 or 24 bits)
 * normalises by frame->header.bits_per_sample: the same samples as the file with a true STREAMINFO.
 * Scaling by STREAMINFO's depth instead re-quantized 16-bit audio to 4 or 8 bits without a word.
 * So `bitsPerSample` (what `info` shows) becomes the frames' depth; libsndfile refuses to open a
 * STREAMINFO depth it does not implement (4, 32), where this decodes the frames as they are.
 *
 * Block size: a fixed-blocksize stream numbers its frames, and frame n starts at sample n × the
 * frames' block size — the first frame's, not STREAMINFO's min/max (which nothing checks).
 * Numbered by a false STREAMINFO (4096 for frames of 1152, or the reverse), seeks found no frame,
 * or a whole file was refused as cut short. The frame searches size their window by it too
 * (searchWindow). (libsndfile 1.2 goes wrong there too: its seeks fail or give wrong samples,
 * and frames of 1152 said to be 4096 are wrong after the first even read from the start.)
 */
export async function checkFirstFlacFrame(src: ByteSource, probe: Probe, flac: FlacSeek): Promise<void> {
  let b = await src.read(flac.firstFrame, 16); // the longest frame header
  if (!readFrameHeader(b, 0, flac.blocksize)) {
    if (b.length < 16) return; // the file ends there: refused as cut short (checkFlacEnd)
    // In the stream's own window (searchWindow), by STREAMINFO's depth and block size, the frames'
    // not known yet: in the default 64 KiB one, a first frame longer than 32 KiB (24-bit stereo,
    // 16384 samples: 98 KB) was not confirmed by the header after it, and the file was refused.
    const window = searchWindow(flac.streaminfo, probe.bitsPerSample ?? 0, flac.blocksize);
    const found = await seekFrame(src, flac.firstFrame, 0, flac.blocksize, src.size, window);
    if (!found)
      throw new AudioFormatError(`flac: no frame of sample 0 begins where the metadata ends (byte ${flac.firstFrame}) or after it: a metadata block's length is wrong, or the first frame's header is corrupt`);
    flac.firstFrame = found.offset;
    b = await src.read(flac.firstFrame, 16);
  }
  const first = readFrameHeader(b, 0, flac.blocksize)!;
  const problem = frameHeaderProblem(first, flac.firstFrame, probe.samplerate);
  if (problem) throw new AudioFormatError(problem);
  if ((b[1] & 1) === 0) {
    // Fixed-blocksize strategy: frame numbers count blocks of this size (see Block size above).
    flac.blocksize = first.blocksize;
  }
  const assignment = b[3] >> 4; // 0..7: independent channels, 8..10: stereo decorrelation
  const channels = assignment < 8 ? assignment + 1 : 2;
  if (channels !== probe.channels) throw new AudioFormatError(`flac: the frames have ${plural(channels, "channel")}, STREAMINFO says ${probe.channels}`);
  const depth = [0, 8, 12, 0, 16, 20, 24, 32][first.sizeCode]; // 0: "get from STREAMINFO" (3 is reserved, refused above)
  if (depth !== 0) {
    probe.bitsPerSample = depth;
    flac.depthFrom = "the first frame";
  }
}

/**
 * At a FLAC reader's open: refuses what the decoder library cannot read (decoderProblem), sets the
 * frame searches' window and where the frames end (lastFrameEnd), and returns that end.
 */
export async function openFlac(src: ByteSource, probe: Probe, flac: FlacSeek): Promise<FlacEnd> {
  const bits = probe.bitsPerSample ?? 0;
  const problem = decoderProblem(flac.streaminfo, bits, flac.blocksize);
  if (problem) throw new AudioFormatError(problem);
  flac.window = searchWindow(flac.streaminfo, bits, flac.blocksize);
  const end = await lastFrameEnd(src, flac.firstFrame, flac.blocksize, flac.window);
  [flac.dataEnd, flac.endSample, flac.lastFrame] = [end.byte, end.sample, end.last];
  return end;
}

/**
 * A FLAC's length in `frames` against `end`, the first sample after its last whole frame (lastFrameEnd).
 * - Stated by STREAMINFO: a file cut short (a recorder that lost power) or a header that claims
 *   more is refused when it is opened, with the error a read at its end would give — registered,
 *   it had the header's duration (3 × 10^9 frames, 52 h, for a 1 s file) and failed only on the
 *   tiles past the real end.
 * - Counted by decoding (STREAMINFO total 0, as streaming encoders write): the decoder stops
 *   producing output at a corrupt frame without reporting an error, so a count that falls short
 *   of the last frame is a stream cut there.
 */
export function checkFlacEnd(end: number, frames: number, counted: boolean): void {
  if (!counted && end < frames) throw shortStream("flac", end, frames, true);
  if (counted && end > frames) throw new AudioFormatError(`flac: corrupt stream: decoding stops at frame ${frames}, but the file's frames run to frame ${end}`);
}
