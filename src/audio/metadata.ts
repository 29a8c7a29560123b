/**
 * Metadata chunks field recorders write: GUANO (bat-detector metadata, https://github.com/riggsd/guano-spec),
 * Broadcast WAV `bext` (EBU Tech 3285) and RIFF `LIST`/`INFO`. Parsers take the chunk body and
 * never throw on malformed text: metadata is best effort, the audio is what matters.
 */
import { decimalNumber } from "./decimal.js";
import { timeExpansionProblem } from "./expansion.js";

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8");

/** Text of a fixed-size, NUL-padded field, trimmed. */
function field(bytes: Uint8Array, start: number, length: number): string {
  const slice = bytes.subarray(start, Math.min(bytes.length, start + length));
  const nul = slice.indexOf(0);
  return latin1.decode(nul >= 0 ? slice.subarray(0, nul) : slice).trim();
}

/**
 * GUANO: UTF-8 lines `Key: value` after a `GUANO|Version: 1.0` line; namespaced keys keep their
 * prefix (`WA|Kaleidoscope|Version`). Returned as written (strings), keyed by the full key.
 */
export function parseGuano(body: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of utf8.decode(body).split(/\r?\n/)) {
    const cut = line.indexOf(":");
    if (cut <= 0) continue;
    const key = line.slice(0, cut).trim().replace(/\0/g, "");
    const value = line.slice(cut + 1).trim().replace(/\0+$/, "");
    if (key) out[key] = value;
  }
  return out;
}

export interface Bext {
  description: string;
  originator: string;
  originatorReference: string;
  /** yyyy-mm-dd as written. */
  originationDate: string;
  /** hh:mm:ss as written. */
  originationTime: string;
  /** Sample count since midnight of the first sample (64-bit in the file). */
  timeReference: number;
  version: number;
  codingHistory: string;
}

/** Broadcast WAV extension chunk, EBU Tech 3285 §2.3 (fixed 602-byte part, then CodingHistory). */
export function parseBext(body: Uint8Array): Bext {
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const has = (at: number, n: number) => body.length >= at + n;
  return {
    description: field(body, 0, 256),
    originator: field(body, 256, 32),
    originatorReference: field(body, 288, 32),
    originationDate: field(body, 320, 10),
    originationTime: field(body, 330, 8),
    timeReference: has(338, 8) ? v.getUint32(342, true) * 2 ** 32 + v.getUint32(338, true) : 0,
    version: has(346, 2) ? v.getUint16(346, true) : 0,
    codingHistory: body.length > 602 ? field(body, 602, body.length - 602) : "",
  };
}

/** RIFF `LIST` chunk of type `INFO`: sub-chunks (INAM, ICMT, IART, ICRD, ISFT, …) of NUL-terminated text; null for other list types. */
export function parseListInfo(body: Uint8Array): Record<string, string> | null {
  if (body.length < 4 || latin1.decode(body.subarray(0, 4)) !== "INFO") return null;
  const v = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: Record<string, string> = {};
  for (let at = 4; at + 8 <= body.length; ) {
    const id = latin1.decode(body.subarray(at, at + 4));
    const size = v.getUint32(at + 4, true);
    if (size > body.length - at - 8) break;
    out[id] = field(body, at + 8, size);
    at += 8 + size + (size & 1);
  }
  return out;
}

/**
 * bext's origination date and time as ISO 8601 ("2016-02-17T19:45:16"): EBU Tech 3285 leaves
 * their separators free among '-', '_', ':', ' ' and '.' ("2016:02:17", "19.45.16"); each part
 * that is not a date or a time in that form is kept as written.
 */
function bextTimestamp(date: string, time: string): string {
  const d = /^(\d{4})[-_:. ](\d{2})[-_:. ](\d{2})$/.exec(date.trim());
  const t = /^(\d{2})[-_:. ](\d{2})[-_:. ](\d{2})$/.exec(time.trim());
  const isoDate = d ? `${d[1]}-${d[2]}-${d[3]}` : date;
  if (!time) return isoDate;
  return `${isoDate}T${t ? `${t[1]}:${t[2]}:${t[3]}` : time}`;
}

/** When and where a recording was made, and how it was slowed down, as far as its metadata says. */
export interface RecordingFacts {
  /** Start of recording, ISO 8601: GUANO `Timestamp` as written, else bext's origination date and time (bextTimestamp). */
  timestamp?: string;
  /** WGS84 decimal degrees from GUANO `Loc Position` ("lat lon"). */
  location?: { latitude: number; longitude: number };
  /** GUANO `TE`: the time expansion factor the detector recorded with (a positive number; absent means 1). */
  timeExpansion?: number;
}

/**
 * Extracts the timestamp, location and time expansion from parsed metadata (see
 * AudioInfo.metadata) of a file stored at `samplerate` Hz.
 */
export function recordingFacts(metadata: Record<string, unknown>, samplerate: number): RecordingFacts {
  const out: RecordingFacts = {};
  const guano = metadata.guano as Record<string, string> | undefined;
  const bext = metadata.bext as Bext | undefined;
  if (guano?.Timestamp) out.timestamp = guano.Timestamp;
  else if (bext?.originationDate) out.timestamp = bextTimestamp(bext.originationDate, bext.originationTime);
  // Numbers as the command line reads them (decimal.ts): Number() read "0x10" as 16.
  const pos = guano?.["Loc Position"]?.trim().split(/[\s,]+/).map(decimalNumber);
  if (pos && pos.length >= 2 && Math.abs(pos[0]) <= 90 && Math.abs(pos[1]) <= 180) out.location = { latitude: pos[0], longitude: pos[1] };
  const te = guano?.TE === undefined ? NaN : decimalNumber(guano.TE);
  // "0", "NaN", "-10", "0x10", text, and a factor that gives no usable rate ("1e-300") say nothing usable.
  if (timeExpansionProblem(samplerate, te) === null) out.timeExpansion = te;
  return out;
}
