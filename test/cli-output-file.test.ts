/**
 * Writing an output whole (src/cli/output-file.ts): a write that takes fewer bytes than given is
 * followed by one for the rest; one that takes none and gives no error is an error naming where —
 * asked again, it had looped for ever. The writes are faked: no real file system writes nothing
 * without an error on cue.
 */
import { writeSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { describe, expect, it, vi } from "vitest";
import { outputError, writeWholeAt, writeWholeSyncAt } from "../src/cli/output-file.js";

vi.mock("node:fs", async (importOriginal) => {
  const fs = await importOriginal<typeof import("node:fs")>();
  return { ...fs, writeSync: vi.fn(fs.writeSync) };
});

/** A third write means the loop asked again after a write of none: thrown, so that the test ends rather than hangs. */
const askedAgain = () => {
  throw new Error("asked again after a write of none");
};

describe("writeWholeAt", () => {
  it("writes the rest after a short write, and throws naming the byte where a write took none without an error", async () => {
    const calls: [offset: number, length: number, position: number][] = [];
    const takes = [6, 0];
    const file = {
      write: async (_bytes: Uint8Array, offset: number, length: number, position: number) => {
        calls.push([offset, length, position]);
        if (!takes.length) askedAgain();
        return { bytesWritten: takes.shift()!, buffer: _bytes };
      },
    } as unknown as FileHandle;
    const failed = await writeWholeAt(file, new Uint8Array(10), 100).then(() => null, (err: Error) => err);
    expect(failed?.message).toBe("a write of 4 bytes at byte 106 wrote none and gave no error");
    expect(calls).toEqual([[0, 10, 100], [6, 4, 106]]);
    // Its callers name the file (decode, extract's resume file, a table's chunks).
    expect(outputError("out.wav", failed!).message).toBe("cannot write out.wav: a write of 4 bytes at byte 106 wrote none and gave no error");
  });

  it("returns the byte after them once every write took its bytes", async () => {
    const takes = [3, 7];
    const file = { write: async () => ({ bytesWritten: takes.shift() ?? askedAgain() }) } as unknown as FileHandle;
    expect(await writeWholeAt(file, new Uint8Array(10), 5)).toBe(15);
  });
});

describe("writeWholeSyncAt", () => {
  it("writes the rest after a short write, and throws naming the byte where a write took none without an error", () => {
    vi.mocked(writeSync).mockReturnValueOnce(16).mockReturnValueOnce(0).mockImplementationOnce(askedAgain);
    expect(() => writeWholeSyncAt(7, new Uint8Array(64), 8, 40, 1000)).toThrow(new Error("a write of 24 bytes at byte 1016 wrote none and gave no error"));
    // Called as writeSync(fd, buffer, offset, length, position): the typed overload is the string one.
    expect(vi.mocked(writeSync).mock.calls.map((call) => [call[0], ...(call as unknown[]).slice(2)])).toEqual([[7, 8, 40, 1000], [7, 24, 24, 1016]]);
  });
});
