/**
 * `sonotile decode <audio> -o out.{npy,wav} [--time-expansion X]` (SPEC §8): the float32 samples
 * of a recording, shape [frames, channels] as `soundfile.read(path, dtype="float32")` returns them.
 * `.wav` is 32-bit IEEE float (RF64 above 4 GiB), `.npy` NumPy float32; both are streamed in
 * pieces, so memory stays bounded however long the recording. With a time expansion factor the
 * WAV header carries the expanded (real-world) rate, which must be a whole number of Hz.
 */
import { open } from "node:fs/promises";
import { extname } from "node:path";
import { applyTimeExpansion, openAudio, type AudioInfo, type AudioReader } from "../../audio/index.js";
import { interleavedPieces } from "../../audio/interleave.js";
import { floatWavHeader } from "../../audio/wavwriter.js";
import { npyHeader } from "../../render/npy.js";
import type { Command } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { checkTimeExpansionOption, optionRows, readCommandLine, timeExpansionOption, type OptionSpec } from "../flags.js";
import { checkOutputPath, checkOutputWritable, outputError, writeOutputFile, writeWholeAt } from "../output-file.js";

const OPTIONS: readonly OptionSpec[] = [
  { name: "output", short: "o", placeholder: "FILE", doc: "output: .npy (NumPy float32 [frames, channels]) or .wav (32-bit float)" },
  { name: "time-expansion", placeholder: "X", doc: "time expansion factor (SPEC §3.2): the .wav rate becomes file rate × X; default the file's GUANO TE, else 1" },
];

const USAGE = `usage: sonotile decode <audio> -o out.{npy,wav} [options]

Decodes a recording to float32 samples [frames, channels].

${optionRows(OPTIONS)}`;

/** `header`, then every frame interleaved, written piece by piece to `path`; write errors name `output`. */
async function writeSamples(reader: AudioReader, path: string, output: string, header: Uint8Array): Promise<void> {
  const fh = await open(path, "w").catch((err: Error) => Promise.reject(outputError(output, err)));
  let at = 0;
  const write = async (bytes: Uint8Array) => {
    at = await writeWholeAt(fh, bytes, at).catch((err: Error) => Promise.reject(outputError(output, err)));
  };
  try {
    await write(header);
    for await (const x of interleavedPieces(reader, 0, reader.info.frames)) {
      await write(new Uint8Array(x.buffer, x.byteOffset, x.byteLength)); // little-endian hosts only, as npy.ts
    }
  } finally {
    await fh.close();
  }
}

/**
 * The rate the .wav of a recording declares: its real rate (SPEC §3.2). A WAV header holds whole
 * Hz, so a factor that gives a fraction (16000 Hz × 0.3333 = 5332.8 Hz) is refused, as
 * `--resample` refuses it, rather than rounded into a rate the samples do not have.
 */
function wavSamplerate(info: AudioInfo, te: number | undefined): number {
  const { samplerate, timeExpansion } = applyTimeExpansion(info, te);
  if (Number.isInteger(samplerate)) return samplerate;
  const given = te === undefined ? `the file's GUANO TE ${timeExpansion}; override it with --time-expansion` : "--time-expansion";
  throw new UsageError(`time_expansion (${given}): a .wav stores its rate in whole Hz; ${info.samplerate} Hz × ${timeExpansion} is ${samplerate} Hz (write .npy, or give a factor that makes the rate whole)`);
}

export const command: Command = {
  async run(args) {
    const cl = readCommandLine(args, OPTIONS, USAGE, { name: "decode", takesParams: false });
    if (!cl) return EXIT.ok;
    if (cl.positionals.length !== 1) throw new UsageError(`expected one audio file, got ${cl.positionals.length} (see --help)`);
    const output = cl.options.output;
    if (typeof output !== "string") throw new UsageError("missing -o/--output FILE (.npy or .wav)");
    const ext = extname(output).toLowerCase();
    if (ext !== ".npy" && ext !== ".wav") throw new UsageError(`-o: output must end in .npy or .wav, got '${output}'`);
    const te = timeExpansionOption(cl.options["time-expansion"]);
    const [audio] = cl.positionals;
    await checkOutputPath(audio, output);
    await checkOutputWritable(output);

    const reader = await openAudio(audio);
    try {
      const { frames, channels } = reader.info;
      checkTimeExpansionOption(te, reader.info.samplerate);
      const header = ext === ".npy" ? npyHeader([frames, channels]) : floatWavHeader(frames, channels, wavSamplerate(reader.info, te));
      await writeOutputFile(output, (path) => writeSamples(reader, path, output, header));
    } finally {
      await reader.close();
    }
    return EXIT.ok;
  },
};
