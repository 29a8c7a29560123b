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
