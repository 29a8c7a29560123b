/** What registering a recording reads from its file: the header facts, the content hash, and when and where it was made. */
import { probeAudio, probeHeader } from "../audio/index.js";
import type { AudioInfo } from "../audio/types.js";

export interface FileFacts {
  /** MD5 of the file's bytes, lower-case hex (SPEC §5 `hash`). */
  hash: string;
  file_size: number;
  /** Sample rate as stored (before time expansion). */
  file_samplerate: number;
  frames: number;
  channels: number;
}

/** What a recording's header says (FileFacts' part the readers count): read again when a newer reader may count otherwise (reprobeRecording). */
export type HeaderFacts = Pick<FileFacts, "file_samplerate" | "frames" | "channels">;

/** The recording fields of SPEC §5 that the file's metadata (GUANO, bext) can fill; null where it says nothing valid. */
export interface RecordedFacts {
  /** GUANO `TE`; absent where the file does not state it (the column's default, 1, applies). */
  time_expansion?: number;
  /** YYYY-MM-DD. */
  date: string | null;
  /** HH:MM[:SS[.ffffff]]. */
  time: string | null;
  latitude: number | null;
  longitude: number | null;
}

// ISO 8601 as GUANO writes it ("2024-05-31T22:39:11", a space instead of the T, an optional
// fraction — '.' or ',', any number of digits, the first 6 kept — and zone), and bext's date and
// time, whose separators EBU Tech 3285 leaves free among '-', '_', ':', ' ' and '.'.
const TIMESTAMP = /^(\d{4})[-_:. /](\d{2})[-_:. /](\d{2})(?:[T ](\d{2})[-_:. ](\d{2})(?:[-_:. ](\d{2})([.,]\d+)?)?)?(Z|([+-]\d{2})(?::?(\d{2}))?)?$/;
// ISO 8601's basic format ("20250701T235959"), read as the extended one (extendedTimestamp).
const BASIC_TIMESTAMP = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(?:(\d{2})([.,]\d+)?)?)?(Z|[+-]\d{2}(?::?\d{2})?)?$/;
/** A timestamp of a date alone, in either format: it states no time to be missed. */
const DATE_ONLY = /^\d{4}([-_:. /]?)\d{2}\1\d{2}$/;

/** `text` in ISO 8601's extended format when it is in the basic one; else as it is. */
function extendedTimestamp(text: string): string {
  const b = BASIC_TIMESTAMP.exec(text);
  if (!b) return text;
  const [, year, month, day, hour, minute, second, fraction, zone] = b;
  const time = hour === undefined ? "" : `T${hour}:${minute}${second === undefined ? "" : `:${second}${fraction ?? ""}`}`;
  return `${year}-${month}-${day}${time}${zone ?? ""}`;
}

/**
 * A recording's `time` as stored and as the API takes it: HH:MM[:SS[.ffffff]], then the UTC
 * offset when the recorder stated one (±HH:MM, at most ±14:59). The same rule is the column's
 * CHECK (migration 004).
 */
export const RECORDED_TIME = /^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?([+-](0[0-9]|1[0-4]):[0-5][0-9])?$/;

/**
 * The date and time a timestamp states, as the recorder's clock showed them, with the UTC offset
 * it states, if any, kept and not applied ("20:26:15+01:00"; "Z" is "+00:00"): for field
 * recordings the local time is what matters — hours after sunset — and the offset places it.
 * Impossible dates, times and offsets give nulls.
 */
export function recordedDateTime(timestamp: string | undefined): Pick<RecordedFacts, "date" | "time"> {
  const m = timestamp ? TIMESTAMP.exec(extendedTimestamp(timestamp.trim())) : null;
  if (!m) return { date: null, time: null };
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map((g) => (g === undefined ? undefined : Number(g)));
  const calendar = new Date(Date.UTC(year!, month! - 1, day!));
  if (calendar.getUTCFullYear() !== year || calendar.getUTCMonth() !== month! - 1 || calendar.getUTCDate() !== day) return { date: null, time: null };
  const offset = m[8] === undefined ? "" : m[8] === "Z" ? "+00:00" : `${m[9]}:${m[10] ?? "00"}`;
  const fraction = m[7] === undefined ? "" : `.${m[7].slice(1, 7)}`;
  // 24:00:00 ends the day: the next one's midnight (ISO 8601).
  if (hour === 24 && minute === 0 && (second ?? 0) === 0 && !/[1-9]/.test(fraction)) {
    calendar.setUTCDate(day! + 1);
    return { date: calendar.toISOString().slice(0, 10), time: RECORDED_TIME.test(`00:00:00${offset}`) ? `00:00:00${offset}` : null };
  }
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  if (hour === undefined || hour > 23 || minute! > 59 || (second ?? 0) > 59) return { date, time: null };
  const time = `${m[4]}:${m[5]}:${m[6] ?? "00"}${fraction}${offset}`;
  return { date, time: RECORDED_TIME.test(time) ? time : null };
}

/** A metadata value a file states that registering it could not use, and what was done instead (probeFile's metadata_unread). */
export interface UnreadMetadata {
  /** Where it was: `GUANO Timestamp`, `bext OriginationDate/OriginationTime`, `GUANO Loc Position`, `GUANO TE`. */
  key: string;
  value: string;
  message: string;
}

/**
 * The values of the file's metadata that `facts` could not take: a timestamp that gave no date,
 * or a date but not the time it states; a GUANO Loc Position out of range or not two numbers; a
 * GUANO TE giving no usable rate. Each had been dropped without a word, the field left empty.
 */
function unreadMetadata(info: Pick<AudioInfo, "timestamp" | "location" | "timeExpansion" | "metadata">, facts: Pick<RecordedFacts, "date" | "time">): UnreadMetadata[] {
  const guano = info.metadata.guano as Record<string, string> | undefined;
  const out: UnreadMetadata[] = [];
  if (info.timestamp) {
    const key = guano?.Timestamp ? "GUANO Timestamp" : "bext OriginationDate/OriginationTime";
    if (facts.date === null) out.push({ key, value: info.timestamp, message: "not a date and time this reads (ISO 8601: 2025-07-01T23:59:59[.ffffff][±HH:MM], or 20250701T235959): date and time left empty" });
    else if (facts.time === null && !DATE_ONLY.test(info.timestamp.trim())) out.push({ key, value: info.timestamp, message: `its time is not one this reads: date ${facts.date} kept, time left empty` });
  }
  if (guano?.["Loc Position"] && !info.location) out.push({ key: "GUANO Loc Position", value: guano["Loc Position"], message: "not a latitude in [−90, 90] and a longitude in [−180, 180], decimal degrees: latitude and longitude left empty" });
  if (guano?.TE && info.timeExpansion === undefined) out.push({ key: "GUANO TE", value: guano.TE, message: "not a time expansion factor that gives a usable rate: time expansion 1" });
  return out;
}

/** When and where the audio layer found the recording was made, and its time expansion (AudioInfo.timestamp, .location, .timeExpansion; checked there). */
function recordedFacts(info: Pick<AudioInfo, "timestamp" | "location" | "timeExpansion">): RecordedFacts {
  return {
    ...recordedDateTime(info.timestamp),
    latitude: info.location?.latitude ?? null,
    longitude: info.location?.longitude ?? null,
    ...(info.timeExpansion === undefined ? {} : { time_expansion: info.timeExpansion }),
  };
}

/**
 * When the file was last modified, as registered (stat's `mtimeMs`): the store keeps it to notice
 * a rewrite that keeps the size (recordingFileNow); the API does not show it.
 */
export interface FileStamp {
  file_mtime: number;
}

/**
 * Reads the header (through the audio layer, which validates it and its metadata), the size and
 * time, and the hash — all of one opening of the file (probeAudio). The size and time are those
 * before the hash: a write during the hash leaves a later time on the file than the one registered,
 * so the next read hashes it again. `exactPath`: a real path confined to the audio roots, opened
 * only as that file (openAudio's).
 */
export async function probeFile(path: string, options: { exactPath?: boolean } = {}): Promise<FileFacts & FileStamp & RecordedFacts & { metadata_unread: UnreadMetadata[] }> {
  const { info, size, mtimeMs, md5 } = await probeAudio(path, options);
  const recorded = recordedFacts(info);
  return { hash: md5, file_size: size, file_mtime: mtimeMs, ...headerFacts(info), ...recorded, metadata_unread: unreadMetadata(info, recorded) };
}

/**
 * The header facts of a file already known by its size and time, with the size and time of the
 * same opening (probeHeader): the caller compares them with those it checked. Nothing beyond the
 * header is read. `exactPath` as for probeFile.
 */
export async function probeFileHeader(path: string, options: { exactPath?: boolean } = {}): Promise<HeaderFacts & FileStamp & { file_size: number }> {
  const { info, size, mtimeMs } = await probeHeader(path, options);
  return { file_size: size, file_mtime: mtimeMs, ...headerFacts(info) };
}

function headerFacts(info: Pick<AudioInfo, "samplerate" | "frames" | "channels">): HeaderFacts {
  return { file_samplerate: info.samplerate, frames: info.frames, channels: info.channels };
}
