/**
 * `sonotile spectrogram <audio> -o out.{png,npy,f32} [parameters] [--start S] [--end S]
 * [--time-expansion X]` (SPEC §8): the spectrogram of a recording, or of the piece [start, end)
 * seconds of it with whole-recording semantics (SPEC §3), written as an image or as numbers.
 * Silent on success; errors are one line (exit 2 for usage and parameters, 1 for unreadable input).
 */
import { writeFile } from "node:fs/promises";
import { extname } from "node:path";
import { openAudio } from "../../audio/index.js";
import { spectrogramOfRecording } from "../../engine/recording.js";
import { parseParams, ParamsError } from "../../engine/params.js";
import type { Spectrogram } from "../../engine/spectrogram.js";
import { encodeNpy } from "../../render/npy.js";
import { renderPng } from "../../render/image.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { flagsHelp, readCommandLine, withFlagNames, type OptionSpec } from "../flags.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "output file, format by extension: .png (image, cmap colours), .npy (NumPy float32 [bins, frames]), .f32 (raw little-endian float32 [bins][frames]); row 0 of the numbers is 0 Hz" },
  { name: "start", placeholder: "S", doc: "start of the piece in seconds (frames centred in [start, end)); default 0" },
  { name: "end", placeholder: "S", doc: "end of the piece in seconds; default the end of the recording" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor of the recording (SPEC §3.2); default 1" },
  { name: "verbose", boolean: true, doc: "stack traces on errors" },
];

/** The writers of each output format, by lower-case extension. */
const FORMATS: Record<string, (s: Spectrogram) => Uint8Array> = {
  ".png": (s) => renderPng(s, s.params.cmap),
  ".npy": (s) => encodeNpy(s.data, [s.bins, s.frames]),
  // Float32Array is host-endian; every platform Node runs on here is little-endian (as npy.ts).
  ".f32": (s) => new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength),
};

const USAGE = `usage: sonotile spectrogram <audio> -o out.{png,npy,f32} [options]

The spectrogram of a recording (SPEC §3), or of the frames centred in [--start, --end).

${flagsHelp(OPTIONS)}`;

/** A number of seconds or a factor given on the command line, checked before any work. */
function numberOption(text: string | true | undefined, flag: string, rule: (v: number) => boolean, ruleText: string): number | undefined {
  if (text === undefined) return undefined;
  const v = typeof text === "string" && text.trim() !== "" ? Number(text) : NaN;
  if (!(Number.isFinite(v) && rule(v))) throw new UsageError(`--${flag}: must be a number ${ruleText}, got '${text}'`);
  return v;
}

export const command: Command = {
  summary: "spectrogram of a recording (or a piece of it) as PNG, .npy or .f32",
  async run(args) {
    try {
      return await spectrogram(args);
    } catch (err) {
      throw err instanceof ParamsError ? withFlagNames(err) : err;
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
  const write = FORMATS[extname(output).toLowerCase()];
  if (!write) throw new UsageError(`-o ${output}: unknown output format '${extname(output)}' (use .png, .npy or .f32)`);
  const start = numberOption(cl.options.start, "start", (v) => v >= 0, ">= 0");
  const end = numberOption(cl.options.end, "end", (v) => v > (start ?? 0), `> ${start ?? 0} (the start)`);
  const timeExpansion = numberOption(cl.options["time-expansion"], "time-expansion", (v) => v > 0, "> 0");
  const params = parseParams(cl.params); // ParamsError → exit 2 naming the field (run() adds the flag)

  const [audio] = cl.positionals;
  const reader = await openAudio(audio);
  let s: Spectrogram;
  try {
    s = await spectrogramOfRecording(reader, params, { start, end, timeExpansion });
  } finally {
    await reader.close();
  }
  if (s.frames === 0) {
    const duration = reader.info.duration / (timeExpansion ?? 1);
    throw new UsageError(`no frame is centred in [${start ?? 0}, ${end ?? "end"}) s: the recording lasts ${duration} s`);
  }
  try {
    await writeFile(output, write(s));
  } catch (err) {
    throw new Error(`cannot write ${output}: ${(err as Error).message}`);
  }
  return EXIT.ok;
}
