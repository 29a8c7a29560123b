/**
 * Compressed formats through maintained WebAssembly decoders (the `@wasm-audio-decoders` family:
 * libFLAC, mpg123, libvorbis, libopus). Their APIs are streaming, so a reader keeps a *cursor* —
 * one live decoder fed the file in `INPUT_BYTES` pieces — and an LRU cache of decoded blocks of
 * `blockFrames` frames (default 65536):
 *   - memory stays bounded: CACHE_BLOCKS blocks (4 MiB per channel) + one input piece + the
 *     decoder's own state, whatever the length of the file;
 *   - reading forward (what tiles and batch jobs do) continues the cursor: O(new frames);
 *   - a block far from the cursor is found by bisection over frame headers (FLAC, flacseek.ts) or
 *     page granules (Ogg, oggseek.ts), or in a frame index built by scanning the frame headers once
 *     (MP3 Layer III, mp3seek.ts), and decoded from shortly before it — small reads + about one
 *     block of decoding (MP3: plus the first scan up to that point, ~10 ms per 10 MB). FLAC, Vorbis
 *     and MP3 restart bit-exactly; Opus after a 1 s pre-roll agrees with sequential decoding (bit
 *     for bit on the test files, where 80 ms left it 2e-2 off);
 *   - otherwise (MP3 Layer I/II or a stream mp3seek.ts cannot place) a block behind the cursor and
 *     out of the cache is decoded again from the start of the file — O(position) CPU, still bounded
 *     memory.
 * Length, O(1) at open: FLAC STREAMINFO, Ogg last-page granule less the first audio page's start
 * (Vorbis, Opus; oggstart.ts), MP3 Xing/Info frame
 * count (its frame headers counted where it says more than the file holds, and the file refused
 * if they are fewer: Mp3Stream.length); an MP3 without it has its frame headers counted (Layer
 * III), and where that cannot tell (or a FLAC with total 0) the frames are counted by one full
 * decoding pass at open.
 *
 * A chained Ogg file (`cat a.ogg b.ogg`, RFC 3533 §4; told at open by its last page's serial number,
 * another than its first's) is read as one recording, its links one after another, when they
 * share codec, rate and channel count (else refused at open, naming the byte where the link that
 * differs begins): the links are found by bisection (oggseek.ts chainLinks), each one's length from
 * its last granule; the cursor decodes each link with a decoder of its own, as the file it was
 * (each with its own pre-skip and end trimming), and a seek bisects within the link that holds its
 * block — or, near that link's start, decodes from there.
 *
 * The stages, a file each: probe.ts (the header probes, and Probe: what they and opening learn),
 * flacopen.ts and oggopen.ts (opening a FLAC or Ogg stream: where its frames or pages start and
 * end, its length, an Ogg file's links), decoders.ts (the decoder libraries, and the errors their
 * output and failures become), stream-cursor.ts (Cursor: one live decoder cutting its output into
 * blocks, INPUT_BYTES) and stream-reader.ts (StreamReader: the block cache, CACHE_BLOCKS, and
 * seeking). This file recognises the format and reads its header (probeCompressed), and puts the
 * stages together (openCompressed).
 */
import { checkFirstFlacFrame, flacSeekInfo } from "./flacopen.js";
import { firstAudioPage, MAX_PAGE, parsePage, streamBeginsElsewhere } from "./oggseek.js";
import { chainOgg, oggFrames, oggHeaderPackets, oggSeekInfo, oggTail } from "./oggopen.js";
import { checkBasics } from "./layout.js";
import { afterId3v2Tags, linkStarts, probeFlac, probeMpeg, probeOgg, type Probe } from "./probe.js";
import type { ByteSource } from "./source.js";
import { StreamReader, type StreamOptions } from "./stream-reader.js";
import type { AudioFileReader } from "./types.js";

/**
 * A compressed stream's header, as probeCompressed read it: the probe, where the stream starts
 * (after any ID3v2 tags) and its first bytes there.
 */
export interface CompressedHeader {
  probe: Probe;
  skip: number;
  tagged: Uint8Array;
}

/**
 * Recognises FLAC, MP3 and Ogg from the first bytes (`head`) and reads their header, checked: the
 * first Ogg packet, STREAMINFO, the first MPEG frame and the next one's header — a few reads near
 * the start, nothing decoded and nothing counted (openCompressed does that). Null when `head`
 * begins none of them.
 */
export async function probeCompressed(src: ByteSource, head: Uint8Array): Promise<CompressedHeader | null> {
  const ogg = await probeOgg(src, head);
  const { skip, tagged } = ogg ? { skip: 0, tagged: head } : await afterId3v2Tags(src, head);
  const probe = ogg ?? probeFlac(tagged, 0) ?? (await probeMpeg(src, tagged, skip));
  if (!probe) return null;
  checkBasics(probe.container, probe.channels, probe.samplerate);
  return { probe, skip, tagged };
}

/**
 * Opens the stream whose header probeCompressed read: an Ogg file's end and links, a FLAC's
 * metadata, first frame and end, an MP3's length (its frame headers counted where no tag says);
 * StreamReader.open counts by decoding what none of these tells.
 */
export async function openCompressed(src: ByteSource, header: CompressedHeader, options: StreamOptions = {}): Promise<AudioFileReader> {
  const { probe, skip, tagged } = header;
  if (probe.kind === "vorbis" || probe.kind === "opus") {
    const tail = await oggTail(src);
    const serial = new DataView(tagged.buffer, tagged.byteOffset, tagged.byteLength).getUint32(14, true);
    if (tail.serial !== null && tail.serial !== serial) await chainOgg(src, probe, tail.pagesEnd!, tail.dataEnd);
    else {
      probe.oggEnd = tail.dataEnd;
      // Each header page read by itself, up to a whole page's length.
      const pageAt = async (at: number) => parsePage(await src.read(at, Math.min(MAX_PAGE, src.size - at)), 0);
      probe.ogg = await oggSeekInfo(src, 0, src.size, await firstAudioPage(pageAt, 0, src.size, serial, oggHeaderPackets(probe)), serial, probe);
      probe.frames = tail.granule === null ? null : oggFrames(probe, tail.granule, tail.trimmedFrom, probe.ogg, src.size);
    }
    // A stream that begins, in the bytes oggTail read at the file's end, where no link begins.
    const starts = linkStarts(probe);
    const again = tail.begins.find((b) => !starts.has(b.offset));
    if (again) throw streamBeginsElsewhere(again.offset, again.serial, again.sequence, again.before);
  } else if (probe.kind === "flac") {
    probe.flac = await flacSeekInfo(src, skip, tagged);
    await checkFirstFlacFrame(src, probe, probe.flac);
  } else if (probe.mp3) probe.frames = await probe.mp3.length();
  return StreamReader.open(src, probe, skip, options);
}
