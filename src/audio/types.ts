/**
 * What the audio input layer hands to the rest of sonotile. Readers report the file as
 * stored (`samplerate` is the stored rate fs_file); time expansion (SPEC §3.2) is applied by
 * the engine façade, not here.
 */

/** Facts about a recording as stored. */
export interface AudioInfo {
  /** Container, e.g. "wav", "rf64", "w64", "aiff", "flac", "mp3", "ogg". */
  container: string;
  /** Sample encoding, e.g. "pcm_16", "pcm_u8", "float", "double", "alaw", "ulaw", "ima_adpcm", "vorbis". */
  encoding: string;
  /** Stored sample rate in Hz (before time expansion). */
  samplerate: number;
  channels: number;
  /** Sample frames per channel. */
  frames: number;
  /** frames / samplerate, seconds as stored. */
  duration: number;
  /** Bits per stored sample, null for compressed codecs. */
  bitsPerSample: number | null;
  /** Metadata found in the file (GUANO fields, bext, LIST/INFO), keyed by their own names. */
  metadata: Record<string, unknown>;
  /** Size of the file in bytes (optional: absent for sources without one). */
  fileSize?: number;
  /** Start of recording, ISO 8601 as the file states it (GUANO `Timestamp`, else bext date/time). */
  timestamp?: string;
  /** Recording location from GUANO `Loc Position`, WGS84 decimal degrees. */
  location?: { latitude: number; longitude: number };
  /** Time expansion factor from GUANO `TE` (SPEC §3.2), the default where a caller gives none. */
  timeExpansion?: number;
}

/** Random access to a recording's samples. */
export interface AudioReader {
  readonly info: AudioInfo;
  /**
   * Samples of one channel for frames [start, start + count), decoded to [-1, 1) as libsndfile
   * does (SPEC §3.1). The range is clipped to the recording: the result may be shorter than
   * `count` (empty past the end). Reads only the bytes that range needs where the format
   * allows (PCM families). With `into` (at least as long as the clipped range), the samples are
   * written there and a view of it is returned: a caller reading many pieces reuses one buffer
   * instead of touching fresh memory for each, which costs more here than reading the bytes.
   */
  read(channel: number, start: number, count: number, into?: Float32Array): Promise<Float32Array>;
  /**
   * Bytes fetched from the file so far, header parsing included (file readers set it; readers
   * over samples already in memory may leave it out). Lets tests prove reads are ranged.
   */
  readonly bytesRead?: number;
  /** Releases the file handle. */
  close(): Promise<void>;
}

/**
 * A reader of a file, as openAudio opens it: what it keeps between reads — decoded blocks, a
 * buffer of the file's bytes — has a bound a caller can count, and can be let go.
 */
export interface AudioFileReader extends AudioReader {
  /**
   * The most bytes the reader holds at once of samples decoded and file bytes read, while every
   * read asks for at most `readFrames` frames (≥ 1): what a caller holding it open for long — a
   * playback waiting for its client — counts against the server's memory. Not counted: what a
   * read returns, a decoder's own memory.
   */
  maxHeldBytes(readFrames: number): number;
  /** Lets go of what the reader keeps for its next read; the file stays open and the next read is served afresh. */
  releaseMemory(): void;
}

/**
 * A file that cannot be decoded: its message says what is wrong (CLI exit code 1). Messages
 * quote bytes of the file (chunk ids, codec names), so control characters (C0, DEL, C1) are shown as \xNN
 * escapes: the message stays one printable line whatever the file holds.
 */
export class AudioFormatError extends Error {
  override name = "AudioFormatError";
  readonly exitCode = 1;
  constructor(message: string) {
    super(message.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`));
  }
}

/** "1 channel", "2 channels": a count in words, for any message (audio errors, tile ranges, run descriptions, the CLI). */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * A duration of audio at `samplerate` Hz, for people: in seconds with the decimals that tell one
 * sample from the next (⌈log10 rate⌉: 5 at 44.1 kHz, 6 at 500 kHz — `0.03370 s`, not
 * 0.033696145124716556), and from a minute on as h:mm:ss with them too, the seconds after it
 * (`1:02:03.501 (3723.501 s)`). Machine output (--json) keeps the exact number.
 */
export function durationText(seconds: number, samplerate: number): string {
  const decimals = Math.max(0, Math.ceil(Math.log10(samplerate)));
  const plain = `${seconds.toFixed(decimals)} s`;
  if (!Number.isFinite(seconds)) return plain;
  // Whole units of the last decimal, so that the clock's parts are exact (no 59.9999… seconds);
  // the minute told by them, as shown (59.9996 s at 1 kHz is 60.000 s, on the clock like 60 s).
  const unit = 10 ** decimals;
  const units = Math.round(seconds * unit);
  if (units < 60 * unit) return plain;
  const [h, m, s] = [Math.floor(units / (3600 * unit)), Math.floor(units / (60 * unit)) % 60, Math.floor(units / unit) % 60];
  const fraction = decimals ? `.${String(units % unit).padStart(decimals, "0")}` : "";
  return `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}${fraction} (${plain})`;
}

/**
 * `bytes` as a size in words, for any message, the way the CLI's sizes are given (cli/flags.ts
 * sizeOption): in the largest binary unit that holds it whole (256 MiB, 1536 KiB, 100 B);
 * Infinity as it is.
 */
export function sizeText(bytes: number): string {
  if (!Number.isFinite(bytes)) return String(bytes);
  const [unit, size] = (["TiB", "GiB", "MiB", "KiB"] as const).map((u, i) => [u, 2 ** (40 - 10 * i)] as const).find(([, size]) => bytes >= size && bytes % size === 0) ?? ["B", 1];
  return `${bytes / size} ${unit}`;
}
