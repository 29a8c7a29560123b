/** Shared by the audio tests. */
import { expect } from "vitest";
import { AudioFormatError, decode } from "../src/audio/index.js";

/** The AudioFormatError message of decoding `input` whole (fails the test if it decodes, or fails otherwise). */
export async function decodeError(input: string | Uint8Array): Promise<string> {
  try {
    await decode(input);
  } catch (err) {
    expect(err).toBeInstanceOf(AudioFormatError);
    return (err as Error).message;
  }
  throw new Error("decoded without error");
}

/** Ogg page CRC (RFC 3533: polynomial 0x04c11db7, no reflection, initial 0, CRC field as zero), written into the page at `at`. */
export function fixOggCrc(b: Uint8Array, at: number): void {
  let length = 27 + b[at + 26];
  for (let i = 0; i < b[at + 26]; i++) length += b[at + 27 + i];
  b.fill(0, at + 22, at + 26);
  let crc = 0;
  for (let i = 0; i < length; i++) {
    crc ^= b[at + i] << 24;
    for (let k = 0; k < 8; k++) crc = crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1;
  }
  new DataView(b.buffer, b.byteOffset).setUint32(at + 22, crc >>> 0, true);
}
