/** The cursor of a StreamReader (stream-reader.ts): one live decoder walking a compressed stream. */
import { applyOpusGain, checkDecoded, type Decoded, explainFlac, guard, rescaleFlacInto, type StreamDecoder } from "./decoders.js";
import { OggPageCheck } from "./oggseek.js";
import { linkStarts, type OggSeek, type Probe } from "./probe.js";
import type { ByteSource } from "./source.js";
import { AudioFormatError, plural } from "./types.js";

/** Bytes fed to the decoder at a time: bounds the output of one call (FLAC can expand ~800×). */
const INPUT_BYTES = 16384;

/** One live decoder walking the file, cutting its output into blocks of `blockFrames`. */
export class Cursor {
  /** Index of the next block `next` returns. */
  block = 0;
  private readonly ready: Float32Array[][] = [];
  private buf: Float32Array[];
  private fill = 0;
  private filePos: number;
  private emitted: number;
  /** Decoded frames still to drop before block `block` begins (after a seek to a frame before it). */
  private skip: number;
  private done = false;
  /** Ogg: every page fed to the decoder is checked first (see OggPageCheck). */
  private pages: OggPageCheck | null;
  /** Where the stream's bytes end: the file's end, FLAC's dataEnd, an Ogg's (Probe.oggEnd), or the end of the chained Ogg link being decoded. */
  private dataEnd: number;
  /** Chained Ogg: the index in probe.chain of the link being decoded (0 otherwise). */
  link = 0;

  /**
   * @param dec         the decoder, fed from `start`
   * @param newDecoder  makes a decoder for the next link of a chained Ogg file
   * @param start       byte offset where decoding starts (first byte fed after `preamble`; Ogg: a page boundary)
   * @param firstSample sample number of the first decoded frame at `start`
   * @param block       index of the first block to produce; its start is ≥ firstSample
   * @param preamble    bytes fed to the decoder first (MP3: warm-up frames; Ogg: the link's header pages, for Opus their stand-in OggSeek.opusHeaders)
   */
  constructor(private dec: StreamDecoder, private readonly newDecoder: () => Promise<StreamDecoder>, private readonly src: ByteSource, private readonly probe: Probe, private readonly blockFrames: number, start: number, firstSample = 0, block = 0, private preamble: Uint8Array | null = null) {
    this.filePos = start;
    this.emitted = firstSample;
    this.block = block;
    this.skip = block * this.blockFrames - firstSample;
    this.buf = this.fresh();
    this.pages = probe.container === "ogg" ? new OggPageCheck(start, linkStarts(probe)) : null;
    if (probe.chain) {
      while (this.link + 1 < probe.chain.length && probe.chain[this.link + 1].start <= start) this.link++;
      this.dataEnd = probe.chain[this.link].end;
    } else this.dataEnd = probe.flac?.dataEnd ?? probe.oggEnd ?? src.size;
    if (!preamble) this.skipOpusHeaders(start);
    this.trimVorbisStart(start);
  }

  /**
   * Vorbis, decoding the current link from byte `start` when that is its first byte: the frames
   * it decodes before granule 0 (OggSeek.trim) are dropped, as a seek, placed by granule, drops
   * them. Decoded from the start, they had come first and moved the whole recording by their
   * number (500 frames in a file whose first page's granule was 500 short), where seeks did not.
   */
  private trimVorbisStart(start: number): void {
    const seek = this.linkStartingAt(start);
    if (!seek?.trim) return;
    this.emitted -= seek.trim;
    this.skip += seek.trim;
  }

  /**
   * Opus, decoding the current link from byte `start` when that is its first byte: the decoder is
   * fed the stand-in for its header pages (OggSeek.opusHeaders), and the file from its first audio
   * page on. (The header pages skipped were checked by firstAudioPage, CRCs and all.)
   */
  private skipOpusHeaders(start: number): void {
    const seek = this.linkStartingAt(start);
    if (!seek?.opusHeaders) return;
    this.preamble = seek.opusHeaders;
    this.filePos = seek.firstAudio;
    this.pages = new OggPageCheck(seek.firstAudio, linkStarts(this.probe));
  }

  /** The seek facts of the Ogg link being decoded (the file's, unchained) if byte `start` is its first byte. */
  private linkStartingAt(start: number): OggSeek | undefined {
    const link = this.probe.chain?.[this.link];
    const seek = link ? link.seek : this.probe.ogg;
    return start === (link?.start ?? 0) ? seek : undefined;
  }

  /** Opus: the Output Gain of the link being decoded (the file's, unchained), in 1/256 dB. */
  private get outputGain(): number {
    const link = this.probe.chain?.[this.link];
    return (link ? link.outputGain : this.probe.outputGain) ?? 0;
  }

  /** The frame where the output ends: the end of the chained Ogg link being decoded, else the recording's length (null: not known). */
  private get limit(): number | null {
    const link = this.probe.chain?.[this.link];
    return link ? link.firstFrame + link.frames : this.probe.frames;
  }

  private fresh(): Float32Array[] {
    return Array.from({ length: this.probe.channels }, () => new Float32Array(this.blockFrames));
  }

  /** The next block (the last one may be short), or null past the end of the stream. */
  async next(): Promise<Float32Array[] | null> {
    try {
      return await this.decodeNext();
    } catch (err) {
      throw await explainFlac(this.src, this.probe, this.emitted, err);
    }
  }

  /** next, without explainFlac. */
  private async decodeNext(): Promise<Float32Array[] | null> {
    while (this.ready.length === 0 && !this.done) {
      let r: Decoded;
      if (this.preamble) {
        const pre = this.preamble;
        this.preamble = null;
        r = await guard(this.probe.kind, this.where(), () => this.dec.decode(pre));
      } else if (this.filePos < (await this.bytesEnd())) {
        const bytes = await this.src.read(this.filePos, Math.min(INPUT_BYTES, this.dataEnd - this.filePos));
        if (bytes.length === 0) throw new AudioFormatError(`${this.probe.kind}: file ended early at byte ${this.filePos}`);
        this.filePos += bytes.length;
        this.pages?.check(bytes);
        r = await guard(this.probe.kind, this.where(), () => this.dec.decode(bytes));
      } else {
        this.pages?.end();
        r = this.dec.flush ? await guard(this.probe.kind, this.where(), () => this.dec.flush!()) : { channelData: [], samplesDecoded: 0, errors: [] };
        this.append(this.checked(r));
        await this.decodeLastFlacFrame();
        if (await this.nextLink()) continue;
        this.done = true;
        if (this.fill > 0) this.ready.push(this.buf.map((c) => c.slice(0, this.fill)));
        continue;
      }
      this.append(this.checked(r));
    }
    const out = this.ready.shift() ?? null;
    if (out) this.block++;
    return out;
  }

  /**
   * FLAC, after the flush at the end of the bytes: the last frame, where the library's frame parser
   * dropped it. That parser confirms a frame by the header after it, and the last one by its CRC-16
   * over the bytes left at the flush; it dropped a last frame of a few bytes (silence or DC coded as
   * one value, a frame of one sample: 11–13 bytes), and every read of a file so ending failed at its
   * end (`stream ends at frame 57344, the header says 60000`). Given straight to libFLAC, it
   * decodes. Only when the decoder stopped right before that frame (lastFrameEnd found it whole).
   */
  private async decodeLastFlacFrame(): Promise<void> {
    const flac = this.probe.flac;
    const last = flac?.lastFrame;
    if (!flac || !last || this.emitted !== last.sample || !this.dec.decodeFrames) return;
    const frame = await this.src.read(last.offset, this.dataEnd - last.offset);
    this.append(this.checked(await guard("flac", this.where(), () => this.dec.decodeFrames!([frame]))));
  }

  /** dataEnd, for MP3 Layer III moved back to where a trailer begins once the frame scan reaches it past the next bytes to feed (Mp3Stream.dataEnd). */
  private async bytesEnd(): Promise<number> {
    if (this.probe.mp3 && this.filePos < this.dataEnd) this.dataEnd = Math.min(this.dataEnd, await this.probe.mp3.dataEnd(this.filePos + INPUT_BYTES));
    return this.dataEnd;
  }

  private append(r: Decoded): void {
    let n = r.samplesDecoded;
    const limit = this.limit;
    if (limit !== null && this.probe.flac?.endSample === limit && this.emitted + n > limit) throw this.flacOverrun(limit);
    // Where the container records the length (Opus end trimming), output beyond it is padding.
    if (limit !== null) n = Math.max(0, Math.min(n, limit - this.emitted));
    if (n === 0) return;
    if (this.probe.kind === "flac") this.checkFlac(r);
    else this.checkFormat(r);
    this.emitted += n;
    if (this.probe.kind === "opus") applyOpusGain(r.channelData, this.probe.channels, n, this.outputGain);
    // FLAC's samples are rescaled as they are copied into the block: one pass over them, not two.
    const flacBits = this.probe.kind === "flac" ? this.probe.bitsPerSample! : 0;
    const dropped = Math.min(this.skip, n);
    this.skip -= dropped;
    for (let off = dropped; off < n; ) {
      const take = Math.min(n - off, this.blockFrames - this.fill);
      for (let c = 0; c < this.probe.channels; c++) {
        const part = r.channelData[c].subarray(off, off + take);
        if (flacBits) rescaleFlacInto(part, this.buf[c], this.fill, flacBits);
        else this.buf[c].set(part, this.fill);
      }
      this.fill += take;
      off += take;
      if (this.fill === this.blockFrames) {
        this.ready.push(this.buf);
        this.buf = this.fresh();
        this.fill = 0;
      }
    }
  }

  /**
   * FLAC frames after the first whose channels or depth differ from the stream's (the first frame's
   * were checked at open, checkFirstFlacFrame): libsndfile refuses a channel change ("flac channel
   * changed mid stream"); a change of depth would be rescaled wrongly within one decoder call.
   */
  private checkFlac(r: Decoded): void {
    const { channels, bitsPerSample, flac } = this.probe;
    if (r.channelData.length !== channels)
      throw new AudioFormatError(`flac: the frames after sample ${this.emitted} have ${plural(r.channelData.length, "channel")}, STREAMINFO says ${channels}`);
    if (r.bitDepth !== undefined && r.bitDepth !== bitsPerSample)
      throw new AudioFormatError(`flac: the frames after sample ${this.emitted} hold ${r.bitDepth}-bit samples, ${flac?.depthFrom ?? "STREAMINFO"} says ${bitsPerSample}-bit`);
  }

  /**
   * The decoder gives at least the channels, and exactly the rate, the header gave the recording
   * (and its duration): a damaged first MP3 frame header (a free-format Info frame, whose length
   * nothing checks) gave 22050 Hz for a 16 kHz stream and no error. (mpg123 decodes a mono stream
   * to two equal channels: more channels than the header's are not an error.)
   */
  private checkFormat(r: Decoded): void {
    const { kind, channels, samplerate } = this.probe;
    if (r.channelData.length < channels)
      throw new AudioFormatError(`${kind}: ${this.formatChange()} decodes to ${plural(r.channelData.length, "channel")}, the header says ${channels} (corrupt?)`);
    if (r.sampleRate !== undefined && r.sampleRate !== samplerate)
      throw new AudioFormatError(`${kind}: ${this.formatChange()} decodes at ${r.sampleRate} Hz, the header says ${samplerate} Hz (corrupt?)`);
  }

  /**
   * Where the audio checkFormat refuses begins: for MP3 Layer III where the frame scan found the
   * stream's frames give way to others (an MP3 appended at another rate), else where the output
   * that shows it begins — a whole input piece's, the frames before the change in it included
   * (an appended stream at 345600 had been named at 302400, in a file of a few seconds at 0).
   */
  private formatChange(): string {
    const other = this.probe.mp3?.otherStreamAt() ?? null;
    return `the audio after frame ${other !== null && other >= this.emitted ? other : this.emitted}`;
  }

  /**
   * Chained Ogg, at the end of a link's bytes (its decoder flushed): checks that the link gave the
   * frames its last granule states — the links after it are placed by that count — and goes on to
   * the next link with a fresh decoder, so each link decodes as the file it was. False at the last
   * link, or in a file of one stream.
   */
  private async nextLink(): Promise<boolean> {
    const chain = this.probe.chain;
    if (!chain || this.link + 1 >= chain.length) return false;
    const link = chain[this.link];
    if (this.emitted < link.firstFrame + link.frames)
      throw new AudioFormatError(`${this.probe.kind}: the chained stream (link) that begins at byte ${link.start} ends at its frame ${this.emitted - link.firstFrame}, its last page says ${link.frames} (truncated, or corrupt from there?)`);
    const next = await this.newDecoder();
    this.dec.free();
    this.dec = next;
    this.link++;
    this.dataEnd = chain[this.link].end;
    this.skipOpusHeaders(this.filePos);
    this.trimVorbisStart(this.filePos);
    return true;
  }

  /** Where decoding stands, for errors a decoder throws: the frames so far and their time. */
  private where(): string {
    return `the audio after frame ${this.emitted}, at ${+(this.emitted / this.probe.samplerate).toFixed(3)} s`;
  }

  /** Feeds output decoded before this cursor existed (the pages a seek used to align itself). */
  inject(r: Decoded): void {
    this.append(this.checked(r));
  }

  /**
   * After alignOgg: the pages it fed were checked by `pages`, which goes on checking, and the first
   * `lead` bytes at `start` were fed already (not read again).
   */
  continueAfter(pages: OggPageCheck, lead: Uint8Array): void {
    this.pages = pages;
    this.filePos += lead.length;
  }

  /**
   * FLAC frames decoded past `limit`, where STREAMINFO and the last frame's header both end the
   * stream: frames repeated or out of order (a frame copied twice, a second copy of the stream
   * appended), which libFLAC decodes without an error. Clipped to the length, their samples had
   * come out shifted or from the copy (`cat f f`: the last frame from the second copy's start,
   * off by up to 0.99), while seeks, placed by frame number, read other ones.
   */
  private flacOverrun(limit: number): AudioFormatError {
    return new AudioFormatError(`flac: corrupt stream: the frames fed up to byte ${this.filePos} run past sample ${limit}, where STREAMINFO and the last frame end, after frame ${this.emitted} (a frame repeated, or a second stream appended?)`);
  }

  /** `r`, unless it failed to decode: everything before the frames emitted so far did decode. */
  private checked(r: Decoded): Decoded {
    return checkDecoded(this.probe.kind, r, `the audio after frame ${this.emitted}`);
  }

  /** Bytes of decoded samples the cursor holds: the block it fills, and blocks ready for `next`. */
  get heldBytes(): number {
    let bytes = 0;
    for (const block of [this.buf, ...this.ready]) for (const channel of block) bytes += channel.byteLength;
    return bytes;
  }

  /** The stream's length in frames once this cursor has decoded to its end, else undefined. */
  get ended(): number | undefined {
    return this.done ? this.emitted : undefined;
  }

  free(): void {
    this.dec.free();
  }
}
