/**
 * `sonotile spectrogram <audio> -o out.{png,npy,f32} [parameters] [--start S] [--end S]
 * [--time-expansion X]` (SPEC §8): the spectrogram of a recording, or of the piece [start, end)
 * seconds of it with whole-recording semantics (SPEC §3), written as an image or as numbers.
 * Silent on success; errors are one line (exit 2 for usage and parameters, 1 for unreadable input).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { AudioFormatError, openAudio, realSecondsHint, type AudioReader } from "../../audio/index.js";
import { framesInInterval, noFrameInInterval } from "../../engine/geometry.js";
import { namingFile } from "../../engine/analysis.js";
import { RecordingSpectrogram } from "../../engine/recording.js";
import { parseParams } from "../../engine/params.js";
import { npyHeader } from "../../render/npy.js";
import { renderPng } from "../../render/image.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { flagsHelp, numberOption, readCommandLine, timeExpansionOption, namingFlags, type OptionSpec } from "../flags.js";
import { checkOutputPath, checkOutputWritable, outputError, writeOutputFile } from "../output-file.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "output file, format by extension: .png (image, cmap colours), .npy (NumPy float32 [bins, frames]), .f32 (raw little-endian float32 [bins][frames]); row 0 of the numbers is 0 Hz" },
  { name: "start", placeholder: "S", doc: "start of the piece in seconds (frames centred in [start, end)); default 0" },
  { name: "end", placeholder: "S", doc: "end of the piece in seconds; default the end of the recording" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor of the recording (SPEC §3.2); default the file's GUANO TE, else 1" },
];

/** Output formats by lower-case extension. */
const FORMATS = [".png", ".npy", ".f32"];

/**
 * An image is drawn in memory (values, colour indices and the PNG): larger ones are refused
 * with a message naming the limit. Numbers have no such limit: they are streamed to the file.
 */
const MAX_PNG_PIXELS = 1 << 28;

/** Values per block while streaming numbers to a file: 64 MB of float32 in memory at a time. */
const STREAM_BLOCK_VALUES = 1 << 24;

const USAGE = `usage: sonotile spectrogram <audio> -o out.{png,npy,f32} [options]

The spectrogram of a recording (SPEC §3), or of the frames centred in [--start, --end).

${flagsHelp(OPTIONS)}`;

export const command: Command = {
  async run(args) {
    try {
      return await spectrogram(args);
    } catch (err) {
      throw namingFlags(err);
    }
  },
};

/** Parses, validates everything, computes and writes; errors propagate to main (exit codes). */
async function spectrogram(args: string[]): Promise<number> {
  const cl = readCommandLine(args, OPTIONS, USAGE, { name: "spectrogram", takesParams: true });
  if (!cl) return EXIT.ok;
  if (cl.positionals.length !== 1) throw new UsageError(`expects one audio file, got ${cl.positionals.length} (see --help)`);
  const output = cl.options.output;
  if (typeof output !== "string" || output === "") throw new UsageError("-o/--output FILE is required (.png, .npy or .f32)");
  const format = extname(output).toLowerCase();
  if (!FORMATS.includes(format)) throw new UsageError(`-o ${output}: unknown output format '${extname(output)}' (use .png, .npy or .f32)`);
  const start = numberOption(cl.options.start, "start", (v) => v >= 0, "a number >= 0");
  const end = numberOption(cl.options.end, "end", (v) => v > (start ?? 0), `a number > ${start ?? 0} (the start; leave --end out to read to the recording's end)`);
  const timeExpansion = timeExpansionOption(cl.options["time-expansion"]);
  const params = parseParams(cl.params); // ParamsError → exit 2 naming the field (run() adds the flag)

  const [audio] = cl.positionals;
  await checkOutputPath(audio, output);
  await checkOutputWritable(output);
  const reader = await openAudio(audio);
  try {
    if (reader.info.frames === 0) throw new AudioFormatError(`${audio}: the recording holds no samples`);
    const recording = new RecordingSpectrogram(reader, params, { timeExpansion });
    try {
      const [f0, f1] = framesInInterval(start ?? 0, end ?? Infinity, recording.frames, recording.geometry);
      if (f1 <= f0) {
        const { bound, message } = noFrameInInterval(start ?? 0, end ?? Infinity, recording.frames, recording.geometry);
        throw new UsageError(`--${bound}: ${message}${realSecondsHint(reader.info, timeExpansion, "--time-expansion")}`);
      }
      if (format === ".png") await checkImageSize(reader, recording, f0, f1);
      await writeOutputFile(output, (path) => (format === ".png" ? writeImage(path, output, recording, f0, f1) : writeNumbers(path, output, format === ".npy", recording, f0, f1)));
    } catch (err) {
      throw namingFile(err, audio);
    } finally {
      recording.dispose();
    }
  } finally {
    await reader.close();
  }
  return EXIT.ok;
}

/**
 * Refuses an image of frames [f0, f1) over MAX_PNG_PIXELS (exit 2) before anything is computed —
 * after reading the recording's last sample frame: a compressed stream's frame count is its
 * header's claim, and a claim past the stream's end is the file's fault (exit 1, the reader
 * naming where the stream ends), not the command line's.
 */
async function checkImageSize(reader: AudioReader, recording: RecordingSpectrogram, f0: number, f1: number): Promise<void> {
  const { bins } = recording.geometry;
  const frames = f1 - f0;
  if (bins * frames <= MAX_PNG_PIXELS) return;
  await reader.read(0, reader.info.frames - 1, 1);
  throw new UsageError(`the image would be ${frames} × ${bins} pixels; the limit is ${MAX_PNG_PIXELS}: draw a piece (--start/--end), use a longer --hop-size, or write numbers (.npy, .f32)`);
}

/** Frames [f0, f1) as a PNG, drawn in memory (checkImageSize first), written to `path`; write errors name `output`. */
async function writeImage(path: string, output: string, recording: RecordingSpectrogram, f0: number, f1: number): Promise<void> {
  const { bins } = recording.geometry;
  const frames = f1 - f0;
  const data = await recording.frameRange(f0, f1);
  const range = await recording.valueRange();
  const png = renderPng({ data, bins, frames, valueRange: range }, recording.params.cmap);
  await writeFile(path, png).catch((err: Error) => Promise.reject(outputError(output, err)));
}

/**
 * Frames [f0, f1) as float32 [bins][frames] (.npy with its header, or raw .f32), computed and
 * written block by block to `path` (write errors name `output`): memory stays bounded
 * (STREAM_BLOCK_VALUES) however long the piece. Each block's rows go to their places in the file;
 * synchronous writes, since a block has as many rows as bins and nothing else runs in this
 * process meanwhile.
 */
async function writeNumbers(path: string, output: string, npy: boolean, recording: RecordingSpectrogram, f0: number, f1: number): Promise<void> {
  const { bins } = recording.geometry;
  const frames = f1 - f0;
  const header = npy ? npyHeader([bins, frames]) : new Uint8Array(0);
  const step = Math.max(1, Math.floor(STREAM_BLOCK_VALUES / bins));
  const write = (fd: number, bytes: Uint8Array, offset: number, length: number, position: number) => {
    try {
      writeSync(fd, bytes, offset, length, position);
    } catch (err) {
      throw outputError(output, err as Error);
    }
  };
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    throw outputError(output, err as Error);
  }
  try {
    write(fd, header, 0, header.length, 0);
    for await (const block of recording.range(f0, f1, step)) {
      // Float32Array is host-endian; every platform Node runs on here is little-endian (npy.ts).
      const bytes = new Uint8Array(block.data.buffer, block.data.byteOffset, block.data.byteLength);
      const rowBytes = 4 * block.frames;
      if (block.frames === frames) write(fd, bytes, 0, bytes.length, header.length);
      else for (let k = 0; k < bins; k++) write(fd, bytes, k * rowBytes, rowBytes, header.length + 4 * (k * frames + block.firstFrame - f0));
    }
  } finally {
    closeSync(fd);
  }
}
